import pytest
import torch

from dyt import DyT, DyT2d


def test_dyt_formula_and_init():
    layer = DyT(8, alpha_init=0.7)
    assert layer.alpha.shape == () and layer.alpha.item() == pytest.approx(0.7)
    assert torch.equal(layer.weight, torch.ones(8)) and torch.equal(layer.bias, torch.zeros(8))
    with torch.no_grad():
        layer.weight.copy_(torch.linspace(0.5, 2, 8))
        layer.bias.copy_(torch.linspace(-1, 1, 8))
    x = torch.randn(3, 5, 8)
    expected = layer.weight * torch.tanh(0.7 * x) + layer.bias
    torch.testing.assert_close(layer(x), expected)


def test_every_parameter_gets_a_gradient_and_matches_finite_differences():
    layer = DyT(4, alpha_init=0.5, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.uniform_(-0.5, 0.5)
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)

    def f(x, alpha, weight, bias):
        return torch.func.functional_call(layer, {"alpha": alpha, "weight": weight, "bias": bias}, (x,))

    params = [p.detach().clone().requires_grad_() for p in (layer.alpha, layer.weight, layer.bias)]
    assert torch.autograd.gradcheck(f, (x, *params))
    layer(x).pow(2).sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_dyt2d_equals_dyt_on_permuted_input():
    channels_last, channels_first = DyT(6, alpha_init=1.3), DyT2d(6, alpha_init=1.3)
    with torch.no_grad():
        for p in (channels_last.weight, channels_first.weight):
            p.copy_(torch.arange(6.0) + 1)
        for p in (channels_last.bias, channels_first.bias):
            p.copy_(torch.arange(6.0) / 10)
    x = torch.randn(2, 6, 5, 7)
    out = channels_first(x)
    torch.testing.assert_close(out, channels_last(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
    # per channel on NCHW: channel c gets weight c+1 and bias c/10 at every pixel
    torch.testing.assert_close(out[:, 2], 3 * torch.tanh(1.3 * x[:, 2]) + 0.2)


def test_dyt2d_broadcasts_over_any_trailing_dims():
    layer = DyT2d(3)
    for shape in [(4, 3), (4, 3, 9), (4, 3, 2, 2)]:
        assert layer(torch.randn(shape)).shape == shape


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_alpha_init_must_be_positive(bad):
    with pytest.raises(ValueError, match="alpha_init"):
        DyT(4, alpha_init=bad)


def test_timm_norm_layer_signature_and_repr():
    layer = DyT(16, eps=1e-6, alpha_init=0.25, device="cpu", dtype=torch.float64)
    assert layer.weight.dtype == torch.float64
    text = repr(layer)
    assert "alpha_init=0.25" in text and "channels_last" in text
    assert "channels_first" in repr(DyT2d(4))


def test_without_affine_has_only_alpha():
    layer = DyT(4, elementwise_affine=False)
    assert [n for n, _ in layer.named_parameters()] == ["alpha"]
    x = torch.randn(2, 4)
    torch.testing.assert_close(layer(x), torch.tanh(0.5 * x))
