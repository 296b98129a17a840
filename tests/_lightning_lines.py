"""What Lightning logs during a block, for tests that a method's fit stays quiet inside a job."""

import logging
from contextlib import contextmanager

#: Lightning's per-Trainer console lines that a job must not show (accelerator summary, tip, stop reason).
UNWANTED = ("GPU available", "litlogger", "max_steps")


@contextmanager
def lightning_messages():
    """Yield the list of messages ``lightning.pytorch`` logs (any level) inside the block."""

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    records = Records()
    lightning_logger = logging.getLogger("lightning.pytorch")
    lightning_logger.addHandler(records)
    try:
        yield records.messages
    finally:
        lightning_logger.removeHandler(records)


def unwanted(messages: list[str]) -> list[str]:
    return [m for m in messages if any(word in m for word in UNWANTED)]
