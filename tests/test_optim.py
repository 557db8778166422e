"""srcnn.optim: the losses, VDSR's gradient clipping, the dihedral augmentation."""
import math

import torch

from srcnn.optim import augment_choice, charbonnier_loss, clip_gradients, dihedral


def test_charbonnier_and_clip_units():
    z = torch.zeros(2, 1, 3, 3)
    assert math.isclose(float(charbonnier_loss(z, z)), 1e-3, rel_tol=1e-6)
    d = torch.full_like(z, 0.5)
    assert math.isclose(float(charbonnier_loss(d, z)), math.sqrt(0.25 + 1e-6), rel_tol=1e-6)
    # each gradient element clamped to [-theta/lr, theta/lr] with its group's current lr
    a, b = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}], lr=0.1)
    a.grad = torch.tensor([-100.0, -1.0, 3.0, 100.0])
    b.grad = torch.tensor([-100.0, 20.0, 50.0])
    clip_gradients(opt, 0.4)
    assert torch.allclose(a.grad, torch.tensor([-4.0, -1.0, 3.0, 4.0]))
    assert torch.allclose(b.grad, torch.tensor([-40.0, 20.0, 40.0]))


def test_dihedral_group_and_alignment():
    t = torch.rand(2, 1, 5, 5)
    outs = [dihedral(t, k) for k in range(8)]
    assert all(not torch.equal(outs[i], outs[j]) for i in range(8) for j in range(i))  # 8 distinct elements
    assert torch.equal(outs[0], t)
    up = lambda v: torch.nn.functional.interpolate(v, scale_factor=3, mode="nearest")  # noqa: E731
    for k in range(8):  # an LR patch and its HR label stay aligned under every element
        assert torch.equal(dihedral(up(t), k), up(dihedral(t, k)))
    ks = [augment_choice(0, s) for s in range(200)]
    assert ks == [augment_choice(0, s) for s in range(200)] and set(ks) == set(range(8))
    assert ks != [augment_choice(1, s) for s in range(200)]
