"""hsi.arrays: the one dtype rule, one error class per mistake, like_input round trips, checks."""

import numpy as np
import pytest
import torch

from hsi.arrays import (
    as_tensor,
    from_nchw,
    infer_ratio,
    like_input,
    per_band,
    positive_float,
    positive_int,
    to_nchw,
    torch_generator,
    working_dtype,
)
from hsi.errors import InputError, ParameterError


@pytest.mark.parametrize("dtype, expected", [
    (np.float64, torch.float64), (np.float32, torch.float32), (np.float16, torch.float32),
    (np.int16, torch.float32), (np.uint8, torch.float32), (np.bool_, torch.float32),
])
def test_one_dtype_rule_for_numpy_inputs(dtype, expected):
    assert as_tensor(np.ones((2, 3), dtype=dtype)).dtype == expected


@pytest.mark.parametrize("dtype, expected", [
    (torch.float64, torch.float64), (torch.float32, torch.float32), (torch.float16, torch.float32),
    (torch.bfloat16, torch.float32), (torch.int64, torch.float32), (torch.bool, torch.float32),
])
def test_the_same_rule_for_tensors(dtype, expected):
    assert as_tensor(torch.ones(2, 3, dtype=dtype)).dtype == expected
    assert working_dtype(dtype) == expected


def test_an_explicit_dtype_overrides_the_rule_and_values_are_kept():
    values = np.array([[1, 2], [3, 250]], dtype=np.uint8)
    tensor = as_tensor(values, dtype=torch.float64)
    assert tensor.dtype == torch.float64
    assert np.array_equal(tensor.numpy(), values.astype(np.float64))


def test_float_inputs_are_not_copied():
    array = np.zeros((3, 3), np.float32)
    as_tensor(array)[0, 0] = 5.0  # callers must not write; this shows why
    assert array[0, 0] == 5.0
    tensor = torch.zeros(3)
    assert as_tensor(tensor) is tensor


@pytest.mark.parametrize("bad", [np.ones(3, dtype=np.complex64), np.array(["a", "b"]), np.array([None, 1.0]),
                                 torch.ones(3, dtype=torch.complex64)])
def test_non_real_arrays_raise_input_error_naming_the_argument(bad):
    with pytest.raises(InputError, match="cube must hold real numbers"):
        as_tensor(bad, name="cube")


def test_wrong_number_of_dimensions_raises_input_error_with_the_shape():
    with pytest.raises(InputError, match=r"cube must be 3-D; got shape \(4, 5\)"):
        as_tensor(np.zeros((4, 5)), name="cube", ndim=3)
    with pytest.raises(InputError, match="2-D or 3-D"):
        as_tensor(np.zeros(4), name="cube", ndim=(2, 3))
    assert as_tensor(np.zeros((4, 5)), ndim=(2, 3)).shape == (4, 5)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_like_input_gives_back_the_callers_kind(kind):
    source = np.arange(6.0).reshape(2, 3)
    given = source if kind == "numpy" else torch.from_numpy(source)
    result = like_input(as_tensor(given) * 2, given)
    assert isinstance(result, np.ndarray if kind == "numpy" else torch.Tensor)
    assert np.array_equal(np.asarray(result), source * 2)


def test_like_input_detaches_for_numpy_callers():
    weights = torch.ones(3, requires_grad=True)
    result = like_input(weights * 2, np.ones(3))
    assert isinstance(result, np.ndarray) and np.array_equal(result, [2, 2, 2])


def test_nchw_round_trip():
    cube = torch.arange(24.0).reshape(2, 3, 4)
    batch = to_nchw(cube)
    assert batch.shape == (1, 4, 2, 3)
    assert torch.equal(batch[0, 1], cube[:, :, 1])
    assert torch.equal(from_nchw(batch), cube)


def test_per_band_checks_the_count():
    assert per_band([0.1, 0.2], 2, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(InputError, match="noise_std must have one value per band \\(3\\); got 2"):
        per_band([0.1, 0.2], 3)


@pytest.mark.parametrize("value, minimum, expected", [(3, 1, 3), (np.int64(2), 1, 2), (4.0, 1, 4), (0, 0, 0)])
def test_positive_int_accepts_integers(value, minimum, expected):
    result = positive_int(value, "tile", minimum)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "3", None, float("nan"), float("inf")])
def test_positive_int_refuses_the_rest_naming_the_parameter(value):
    with pytest.raises(ParameterError, match=r"tile must be an integer >= 1; got"):
        positive_int(value, "tile")


def test_positive_float():
    assert positive_float("0.5", "p") == 0.5
    assert positive_float(0, "tol", allow_zero=True) == 0.0
    for bad in (0, -1.0, float("nan"), "x", None):
        with pytest.raises(ParameterError, match="p must be"):
            positive_float(bad, "p")


def test_infer_ratio():
    assert infer_ratio((10, 12), (40, 48)) == 4
    assert infer_ratio((10, 12, 5), (40, 48, 1), ratio=4) == 4
    with pytest.raises(InputError, match="integer multiple"):
        infer_ratio((10, 12), (40, 36))
    with pytest.raises(InputError, match="integer multiple"):
        infer_ratio((10, 12), (41, 48))
    with pytest.raises(ParameterError, match="ratio=2 but"):
        infer_ratio((10, 12), (40, 48), ratio=2)


def test_torch_generator_from_seeds_and_numpy_generators_is_reproducible():
    draw = lambda rng: torch.rand(4, generator=torch_generator(rng))  # noqa: E731
    assert torch.equal(draw(5), draw(5))
    assert torch.equal(draw(np.random.default_rng(1)), draw(np.random.default_rng(1)))
    own = torch.Generator().manual_seed(3)
    assert torch_generator(own) is own


def _callers():
    from hsi.degrade import gaussian_noise
    from hsi.estimate import noise_std_per_band
    from hsi.metrics.quality import mpsnr
    from hsi.pansharpen import mtf_glp
    from hsi.restore.classical.tv import tv
    from hsi.unmix.extract import vca

    return {
        "degrade": lambda cube: gaussian_noise(cube, 0.1, np.random.default_rng(0)),
        "estimate": noise_std_per_band,
        "metrics": lambda cube: mpsnr(cube, cube),
        "pansharpen": lambda cube: mtf_glp(cube, np.ones((16, 16))),
        "restore": tv,
        "unmix": lambda cube: vca(cube.reshape(-1, cube.shape[2]), 2, rng=0),
    }


@pytest.mark.parametrize("package", ["degrade", "estimate", "metrics", "pansharpen", "restore", "unmix"])
def test_a_bad_dtype_raises_the_same_error_in_every_package(package):
    cube = np.ones((4, 4, 3), dtype=np.complex64)
    with pytest.raises(InputError, match="must hold real numbers; got dtype complex64"):
        _callers()[package](cube)
