"""The temporal model: receptive field, output length, strided ≡ full, causality, gradients."""

import pytest
import torch

from pose3d_cli.lifting.model import ArchSpec, TemporalModel, TemporalModelStrided

WIDTHS = {(3, 3, 3): 27, (3, 3, 3, 3): 81, (3, 3, 3, 3, 3): 243, (3, 3): 9, (5, 3, 3): 45}


@pytest.mark.parametrize("widths,rf", sorted(WIDTHS.items()))
@pytest.mark.parametrize("causal", [False, True])
def test_receptive_field_and_output_length(widths, rf, causal):
    arch = ArchSpec(filter_widths=widths, channels=16, causal=causal)
    assert arch.receptive_field == rf
    model = TemporalModel(arch).eval()
    assert model.receptive_field == rf
    out = model(torch.randn(2, rf + 7, 17, 2))
    assert out.shape == (2, 8, 17, 3)
    strided = TemporalModelStrided(arch).eval()
    assert strided(torch.randn(3, rf, 17, 2)).shape == (3, 1, 17, 3)


@pytest.mark.parametrize("widths", [(3, 3, 3), (3, 3, 3, 3), (5, 3, 3)])
@pytest.mark.parametrize("causal", [False, True])
def test_strided_equals_full_on_same_weights(widths, causal):
    torch.manual_seed(0)
    arch = ArchSpec(filter_widths=widths, channels=32, causal=causal, joints_in=17, joints_out=17)
    full = TemporalModel(arch).eval()
    for bn in [full.expand_bn, *full.layers_bn]:  # non-trivial statistics
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    strided = TemporalModelStrided(arch).eval()
    strided.load_state_dict(full.state_dict())  # same keys and shapes: shared weights
    assert list(strided.state_dict()) == list(full.state_dict())
    x = torch.randn(2, arch.receptive_field + 4, 17, 2)
    ref = full(x)
    windows = torch.cat([strided(x[:, i:i + arch.receptive_field]) for i in range(5)], dim=1)
    torch.testing.assert_close(windows, ref, rtol=0, atol=1e-5)


def test_causal_output_ignores_future_frames():
    torch.manual_seed(1)
    arch = ArchSpec(filter_widths=(3, 3, 3), channels=16, causal=True)
    model = TemporalModel(arch).eval()
    x = torch.randn(1, 60, 17, 2)
    y = model(x)
    x2 = x.clone()
    x2[:, 40:] += 5.0  # change the future from input frame 40 on
    y2 = model(x2)
    # output j sees input frames j .. j + 26; outputs ending before frame 40 are unchanged
    last_safe = 40 - arch.receptive_field
    torch.testing.assert_close(y[:, :last_safe + 1], y2[:, :last_safe + 1])
    assert not torch.allclose(y[:, last_safe + 1], y2[:, last_safe + 1])


def test_symmetric_output_depends_on_both_sides():
    torch.manual_seed(2)
    arch = ArchSpec(filter_widths=(3, 3), channels=16)
    model = TemporalModel(arch).eval()
    x = torch.randn(1, 9, 17, 2)
    base = model(x)
    for t in (0, 8):  # first and last frame of the window both matter
        x2 = x.clone()
        x2[:, t] += 1.0
        assert not torch.allclose(model(x2), base)


@pytest.mark.parametrize("cls", [TemporalModel, TemporalModelStrided])
def test_every_parameter_gets_a_gradient_and_no_nan(cls):
    torch.manual_seed(3)
    arch = ArchSpec(filter_widths=(3, 3, 3), channels=32, dropout=0.25)
    model = cls(arch).train()
    out = model(torch.randn(4, arch.receptive_field, 17, 2))
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_state_dict_keys_match_the_published_layout():
    arch = ArchSpec(filter_widths=(3, 3, 3), channels=8, joints_in=17, joints_out=17)
    sd = TemporalModel(arch).state_dict()
    assert sd["expand_conv.weight"].shape == (8, 34, 3)
    assert sd["layers_conv.0.weight"].shape == (8, 8, 3)
    assert sd["layers_conv.1.weight"].shape == (8, 8, 1)
    assert sd["shrink.weight"].shape == (51, 8, 1)
    assert "shrink.bias" in sd and "expand_conv.bias" not in sd and "layers_conv.0.bias" not in sd
    assert {k.split(".")[1] for k in sd if k.startswith("layers_bn.")} == {"0", "1", "2", "3"}


def test_bad_arch_and_bad_input_shapes():
    with pytest.raises(ValueError, match="odd"):
        ArchSpec(filter_widths=(3, 2))
    model = TemporalModel(ArchSpec(filter_widths=(3,), channels=4))
    with pytest.raises(ValueError, match=r"expected input \(B, T, 17, 2\)"):
        model(torch.randn(1, 5, 16, 2))


def test_set_bn_momentum():
    model = TemporalModel(ArchSpec(filter_widths=(3, 3), channels=4))
    model.set_bn_momentum(0.01)
    assert model.expand_bn.momentum == 0.01
    assert all(bn.momentum == 0.01 for bn in model.layers_bn)
