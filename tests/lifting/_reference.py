"""An independent numpy implementation of the published architecture's forward pass (eval mode),
written from the paper's description, used to check the torch model number for number."""

import numpy as np


def _conv1d(x, w, dilation=1, bias=None):
    """x (C_in, T), w (C_out, C_in, K) -> (C_out, T - (K - 1) * dilation)."""
    k = w.shape[-1]
    t_out = x.shape[1] - (k - 1) * dilation
    out = np.zeros((w.shape[0], t_out))
    for j in range(k):
        out += w[:, :, j] @ x[:, j * dilation: j * dilation + t_out]
    if bias is not None:
        out += bias[:, None]
    return out


def _bn(x, sd, prefix, eps=1e-5):
    g, b = sd[prefix + ".weight"], sd[prefix + ".bias"]
    m, v = sd[prefix + ".running_mean"], sd[prefix + ".running_var"]
    return (x - m[:, None]) / np.sqrt(v[:, None] + eps) * g[:, None] + b[:, None]


def reference_forward(sd: dict, x: np.ndarray, widths, causal=False) -> np.ndarray:
    """sd: state dict as float64 numpy arrays; x (T, J, 2) -> (T - rf + 1, J_out, 3)."""
    h = x.reshape(x.shape[0], -1).T.astype(np.float64)
    h = np.maximum(_bn(_conv1d(h, sd["expand_conv.weight"]), sd, "expand_bn"), 0)
    dilation = widths[0]
    for i, w in enumerate(widths[1:]):
        pad = (w - 1) * dilation // 2
        shift = (w // 2) * dilation if causal else 0
        res = h[:, pad + shift: h.shape[1] - pad + shift]
        h = np.maximum(_bn(_conv1d(h, sd[f"layers_conv.{2 * i}.weight"], dilation), sd, f"layers_bn.{2 * i}"), 0)
        h = res + np.maximum(_bn(_conv1d(h, sd[f"layers_conv.{2 * i + 1}.weight"]), sd, f"layers_bn.{2 * i + 1}"), 0)
        dilation *= w
    out = _conv1d(h, sd["shrink.weight"], bias=sd["shrink.bias"])
    return out.T.reshape(out.shape[1], -1, 3)


def seeded_state_dict(model, seed: int) -> dict:
    """Deterministic weights from numpy's legacy RandomState (stable across versions)."""
    rng = np.random.RandomState(seed)
    sd = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            sd[name] = t
            continue
        if name.endswith("running_var"):
            arr = rng.uniform(0.5, 1.5, t.shape)
        elif name.endswith(".weight") and t.ndim == 1:
            arr = rng.uniform(0.5, 1.5, t.shape)
        else:
            fan_in = int(np.prod(t.shape[1:])) if t.ndim > 1 else 1
            arr = rng.normal(0, 1 / np.sqrt(fan_in), t.shape)
        sd[name] = arr.astype(np.float32)
    return sd
