"""Loads a file written by `mbrl export-model` with plain PyTorch and predicts.

Usage: load_export.py MODEL_FILE INPUTS_JSON

INPUTS_JSON holds a list of input rows ([B][in]). Prints one JSON object:
  ensembles: {"kind", "mean": [E][B][out], "logvar": [E][B][out] (probabilistic)}
  GP:        {"kind", "mean": [B][out], "variance": [B][out], "noise_variance": [out]}
in target units, rebuilt from the state dict alone with the math of
models/ensemble.{h,cc} and models/gp.{h,cc} (no mbrl code, no TorchScript).
"""

import json
import sys

import torch
import torch.nn.functional as F

ACTIVATIONS = {
    "silu": F.silu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "elu": F.elu,
    "identity": lambda h: h,
}


def ensemble_predict(arch, sd, x):
    e = arch["ensemble_size"]
    out_dim = arch["layer_sizes"][-1]
    layers = len(arch["layer_sizes"]) - 1
    act = ACTIVATIONS[arch["activation"]]
    x = x.to(torch.float32)
    h = (x - sd["input_mean"]) / sd["input_std"]
    h = h.unsqueeze(0).expand(e, -1, -1)
    for i in range(layers):
        # Members are batched: weight [E, in, out], bias [E, 1, out].
        h = torch.baddbmm(sd[f"layer{i}.bias"], h, sd[f"layer{i}.weight"])
        if i + 1 < layers:
            h = act(h)
    result = {"kind": arch["kind"]}
    mean = h[..., :out_dim]
    if arch["kind"] == "probabilistic_ensemble":
        max_lv, min_lv = sd["max_logvar"], sd["min_logvar"]
        logvar = max_lv - F.softplus(max_lv - h[..., out_dim:])
        logvar = min_lv + F.softplus(logvar - min_lv)
        result["logvar"] = (logvar + 2.0 * torch.log(sd["output_std"])).tolist()
    result["mean"] = (mean * sd["output_std"] + sd["output_mean"]).tolist()
    return result


def rbf(a, b, log_l, log_s):
    """Kernel matrices [out, A, B] for inputs a [A, in], b [B, in]."""
    inv_l = torch.exp(-log_l).unsqueeze(1)  # [out, 1, in]
    diff = (a.unsqueeze(0) * inv_l).unsqueeze(2) - (b.unsqueeze(0) * inv_l).unsqueeze(1)
    return torch.exp(log_s).view(-1, 1, 1) * torch.exp(-0.5 * diff.square().sum(-1))


def gp_predict(sd, x):
    train = sd["train_inputs"]
    log_l, log_s = sd["log_length_scales"], sd["log_signal_variance"]
    log_n = sd["log_noise_variance"]
    xn = (x.to(torch.float64) - sd["input_mean"]) / sd["input_std"]
    ks = rbf(train, xn, log_l, log_s)  # [out, N, B]
    mean = torch.einsum("on,onb->bo", sd["alpha"], ks)
    eye = torch.eye(train.shape[0], dtype=torch.float64)
    chol = torch.linalg.cholesky(rbf(train, train, log_l, log_s) + torch.exp(log_n).view(-1, 1, 1) * eye)
    v = torch.linalg.solve_triangular(chol, ks, upper=False)
    latent = (torch.exp(log_s).unsqueeze(1) - v.square().sum(1)).clamp_min(0.0).T
    scale2 = sd["output_std"].square()
    return {
        "kind": "gaussian_process",
        "mean": (mean * sd["output_std"] + sd["output_mean"]).tolist(),
        "variance": (latent * scale2).tolist(),
        "noise_variance": (torch.exp(log_n) * scale2).tolist(),
    }


def main():
    ckpt = torch.load(sys.argv[1])
    arch = json.loads(ckpt["architecture"])
    assert ckpt["format"] == "mbrl.model/1" == arch["format"], ckpt["format"]
    sd = ckpt["state_dict"]
    assert list(sd.keys()) == arch["tensors"] + arch["normalization"], list(sd.keys())
    with open(sys.argv[2]) as f:
        x = torch.tensor(json.load(f), dtype=torch.float64)
    torch.set_num_threads(1)
    with torch.no_grad():
        if arch["kind"] in ("probabilistic_ensemble", "deterministic_ensemble"):
            result = ensemble_predict(arch, sd, x)
        elif arch["kind"] == "gaussian_process":
            result = gp_predict(sd, x)
        else:
            raise SystemExit("unsupported kind " + arch["kind"])
    result["name"] = arch["name"]
    result["version"] = arch["version"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
