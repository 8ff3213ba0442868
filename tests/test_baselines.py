"""The comparison baselines against their papers and public code (docs/baselines.md): defining
structure, parameter counts computed here by hand, the inputs each derives from the artefact,
their recipes, and that each learns the toy classes under LOSO."""

import numpy as np
import pytest
import torch

from famnet.data import MONTAGES, InputSpec, ProtocolData, load_protocol_data, region_centres, region_patches
from famnet.methods import BASELINES, METHODS, training_settings
from famnet.models import HTNet, OFFApexNet, STSTNet, count_parameters, create_model
from famnet.models.htnet import TransformerLevel
from famnet.predict import predict_fold
from famnet.train import FoldRun, TrainConfig, train_fold
from test_train import AUS, CLASSES, FLOW, toy  # noqa: F401  (the toy artefacts fixture)


def conv(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def linear(n_in, n_out):
    return n_in * n_out + n_out


# --- STSTNet ------------------------------------------------------------------------------------

def test_ststnet_has_three_shallow_streams_of_3_5_8_filters_on_28x28_u_v_strain():
    model = create_model("ststnet", num_classes=3)
    assert [s[0].out_channels for s in model.streams] == [3, 5, 8]
    assert all(s[0].kernel_size == (3, 3) and s[0].in_channels == 3 for s in model.streams)
    assert model.default_input_shape == (3, 28, 28)
    assert model.input_spec == InputSpec("flow", ("u", "v", "strain"), 28, "minmax_255", standardise=False)
    # Each stream: 28 -> 30 (padding 2) -> 10 (max pool 3/3); 16 maps -> 5×5 after average pooling.
    x = torch.randn(2, 3, 28, 28)
    assert [s(x).shape[1:] for s in model.streams] == [(3, 10, 10), (5, 10, 10), (8, 10, 10)]
    assert model.classifier.in_features == 16 * 5 * 5
    # Convolutions, batch norms (2 per channel), one linear layer: 1,683 for 3 classes.
    expected = sum(conv(3, w, 3) for w in (3, 5, 8)) + 2 * 16 + linear(400, 3)
    assert count_parameters(model) == expected == 1683


# --- SSSNet ---------------------------------------------------------------------------------------

class AuthorsSSSNet(torch.nn.Module):
    """The authors' SSSNet transcribed layer by layer from its published description (MEB,
    meb/models/me_networks.py: attribute names, order and sizes as there), written here
    independently of famnet.models.sssnet so the two can be checked against each other."""

    def __init__(self, num_classes=3, h_dims=(32, 64, 256), dropout=0.5):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(3, h_dims[0], kernel_size=5, stride=1)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=3)
        self.bn1 = nn.BatchNorm2d(h_dims[0])
        self.drop1 = nn.Dropout2d(dropout)
        self.conv2 = nn.Conv2d(h_dims[0], h_dims[1], kernel_size=3, stride=1)
        self.bn2 = nn.BatchNorm2d(h_dims[1])
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.drop2 = nn.Dropout2d(dropout)
        self.fc1 = nn.Linear(9 ** 2 * h_dims[1], h_dims[2])
        self.drop3 = nn.Dropout(dropout)
        self.fc = nn.Linear(h_dims[2], num_classes)

    def forward(self, x):
        relu = torch.nn.functional.relu
        x = self.drop1(self.bn1(self.pool(relu(self.conv1(x)))))
        x = self.drop2(self.bn2(self.pool2(relu(self.conv2(x)))))
        return self.fc(self.drop3(relu(self.fc1(x.flatten(1)))))


# Our module path of each of the authors' layers.
SSSNET_LAYERS = {"conv1": "features.0", "bn1": "features.3", "conv2": "features.5", "bn2": "features.8",
                 "fc1": "classifier.0", "fc": "classifier.3"}


def authors_copy_of(model) -> torch.nn.Module:
    """The transcription, loaded with ``model``'s weights and batch-norm statistics layer by layer."""
    authors = AuthorsSSSNet(num_classes=model.config.num_classes)
    ours = model.state_dict()
    authors.load_state_dict({f"{theirs}.{key}": ours[f"{path}.{key}"]
                             for theirs, path in SSSNET_LAYERS.items()
                             for key in getattr(authors, theirs).state_dict()})
    return authors


def test_sssnet_is_its_authors_network_output_for_output():
    torch.manual_seed(0)
    model = create_model("sssnet", num_classes=3)
    assert model.default_input_shape == (3, 64, 64)
    assert model.input_spec == InputSpec("flow", ("u", "v", "strain"), 64, "minmax", standardise=False)
    # conv1 5x5 3->32, two batch norms, conv2 3x3 32->64, fc1 64*9*9 -> 256, fc 256 -> 3.
    expected = conv(3, 32, 5) + 2 * 32 + conv(32, 64, 3) + 2 * 64 + linear(64 * 9 * 9, 256) + linear(256, 3)
    assert count_parameters(model) == count_parameters(AuthorsSSSNet()) == expected == 1_349_251
    # Train a few steps so the batch-norm statistics are not their initial ones, then compare.
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(8, 3, 64, 64)
    for _ in range(3):
        optimiser.zero_grad()
        model(x).emotion.sum().backward()
        optimiser.step()
    model.eval()
    authors = authors_copy_of(model).eval()
    probe = torch.rand(4, 3, 64, 64)
    assert torch.allclose(model(probe).emotion, authors(probe), atol=1e-6)
    # Dropout (channel dropout after each block) is where the authors put it: equal in train mode
    # under the same random stream.
    model.train(), authors.train()
    torch.manual_seed(1)
    ours = model(probe).emotion
    torch.manual_seed(1)
    assert torch.allclose(ours, authors(probe), atol=1e-6)


def test_sssnet_at_the_releases_28x28_is_the_same_layers_with_a_smaller_first_linear():
    model = create_model("sssnet", input_size=28)
    # 28 -> 24 (conv 5) -> 8 (pool 3/3) -> 6 (conv 3) -> 3 (pool 2/2)
    assert model.classifier[0].in_features == 64 * 3 * 3
    assert model(torch.rand(2, 3, 28, 28)).emotion.shape == (2, 3)
    with pytest.raises(ValueError, match="SSSNet needs input_size >= 13"):
        create_model("sssnet", input_size=12)


def test_sssnets_recipe_is_mebs_and_its_published_numbers_name_their_source():
    recipe = training_settings("sssnet", {"epochs": 8, "lr": 0.001, "optimizer": "adamw", "seeds": [0]})
    assert {k: recipe[k] for k in ("optimizer", "lr", "weight_decay", "batch_size", "epochs", "lr_schedule",
                                   "class_balance", "hflip", "amp")} == \
        {"optimizer": "adam", "lr": 1e-4, "weight_decay": 1e-3, "batch_size": 32, "epochs": 200,
         "lr_schedule": "constant", "class_balance": "none", "hflip": 0.0, "amp": False}
    paper = METHODS["sssnet"].paper
    assert (paper["uf1"], paper["selection"]) == (73.9, "last epoch") and "TAFFC 2024" in paper["source"]
    # MEB's reruns of two other baselines: fixed epochs against each fold's best test epoch.
    assert (METHODS["ststnet"].benchmark["uf1"], METHODS["ststnet"].benchmark["oracle_uf1"]) == (71.27, 77.40)
    assert (METHODS["off_apexnet"].benchmark["uf1"], METHODS["off_apexnet"].benchmark["oracle_uf1"]) == (70.32, 83.90)


# --- OFF-ApexNet ----------------------------------------------------------------------------------

def test_off_apexnet_has_two_streams_one_over_u_one_over_v():
    model = create_model("off_apexnet", num_classes=3).eval()
    assert model.input_spec.channels == ("u", "v") and model.default_input_shape == (2, 28, 28)
    for stream in (model.stream_u, model.stream_v):
        convs = [m for m in stream if isinstance(m, torch.nn.Conv2d)]
        assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 6, (5, 5)), (6, 16, (5, 5))]
    assert [m.out_features for m in model.classifier if isinstance(m, torch.nn.Linear)] == [1024, 1024, 3]
    # Stream u reads only u: changing v changes the v stream's features and never the u stream's.
    x = torch.randn(2, 2, 28, 28)
    y = x.clone()
    y[:, 1] += 1.0
    assert torch.equal(model.stream_u(x[:, :1]), model.stream_u(y[:, :1]))
    assert not torch.equal(model(x).emotion, model(y).emotion)
    expected = 2 * (conv(1, 6, 5) + conv(6, 16, 5)) + linear(2 * 16 * 7 * 7, 1024) + linear(1024, 1024) + linear(1024, 3)
    assert count_parameters(model) == expected == 2_664_475     # the "2.66M" of the public re-implementation


# --- HTNet ----------------------------------------------------------------------------------------

def htnet_parameters(dim=256, heads=3, depths=(2, 2, 10), patch=7, mlp=4, classes=3):
    """NesT as in HTNet's Model.py, counted layer by layer."""
    total = conv(3 * patch * patch, dim, 1)
    for level, depth in enumerate(depths):
        d, h = dim * 2 ** level, heads * 2 ** level
        inner = (d // h) * h
        block = 2 * d + conv(d, 3 * inner, 1, bias=False) + conv(inner, d, 1) + 2 * d + conv(d, mlp * d, 1) + conv(mlp * d, d, 1)
        total += 1 + depth * block                       # one positional scalar (one token per block)
        if level < len(depths) - 1:
            total += conv(d, 2 * d, 3) + 2 * (2 * d)     # aggregation: conv + channel norm
    return total + 2 * dim * 4 + linear(dim * 4, classes)


def test_htnet_is_a_three_level_hierarchy_over_a_4x4_token_map():
    model = create_model("htnet", num_classes=3)     # the paper's sizes
    assert model.input_spec.kind == "flow_regions" and model.default_input_shape == (3, 28, 28)
    levels = [m for m in model.modules() if isinstance(m, TransformerLevel)]
    assert [len(level.blocks) for level in levels] == [2, 2, 10]
    assert [level.blocks[0][0][1].heads for level in levels] == [3, 6, 12]
    assert model.block_counts == [4, 2, 1]
    seen = []
    hooks = [level.register_forward_hook(lambda m, a, out: seen.append(tuple(out.shape))) for level in levels]
    model(torch.randn(1, 3, 28, 28))
    for hook in hooks:
        hook.remove()
    # Level 1: 16 blocks of one 256-wide token; level 2: 4 of one 512-wide; level 3: one 1024-wide.
    assert seen == [(16, 256, 1, 1), (4, 512, 1, 1), (1, 1024, 1, 1)]
    assert count_parameters(model) == htnet_parameters() == 139_582_982


def test_htnet_attention_mixes_tokens_when_a_block_holds_several():
    """At the paper's sizes every block holds one token; a 56-pixel input gives 2×2 tokens a block."""
    model = create_model("htnet", input_size=56, dim=16, block_repeats=[1, 1, 1]).eval()
    x = torch.randn(1, 3, 56, 56)
    y = x.clone()
    y[..., :7, :7] += 5.0                  # one patch of the first block only
    level = model.levels[0]
    tokens = model.embed(x), model.embed(y)
    out_x, out_y = (level(t[:, :, :2, :2]) for t in tokens)
    assert not torch.allclose(out_x[..., 1, 1], out_y[..., 1, 1])   # another token of the block changed


def test_htnet_regions_are_the_eyes_and_mouth_corners_in_a_2x2_montage():
    landmarks = np.zeros((1, 68, 2), np.float32)
    landmarks[0, 36:42] = (16, 20)         # image-left eye centre, crop pixels (crop side 64)
    landmarks[0, 42:48] = (48, 20)
    landmarks[0, 48] = (20, 48)            # mouth corners
    landmarks[0, 54] = (44, 48)
    identity = np.array([[[1, 0, 0], [0, 1, 0]]], np.float32)
    centres = region_centres(landmarks, identity, crop_size=64)
    assert np.allclose(centres[0], [[0.25, 0.3125], [0.75, 0.3125], [0.3125, 0.75], [0.6875, 0.75]])
    flow = torch.arange(3 * 28 * 28, dtype=torch.float32).reshape(1, 3, 28, 28)
    spec = InputSpec("flow_regions", size=28, per_image="none", montage="regions")
    montage = region_patches(flow, torch.from_numpy(centres), spec)
    assert montage.shape == (1, 3, 28, 28)
    # Centres on the 28 grid: (7, 9), (21, 9), (9, 21), (19, 21); each patch is centre ± 7.
    for (row, col), (x, y) in zip(((0, 0), (0, 1), (1, 0), (1, 1)), ((7, 9), (21, 9), (9, 21), (19, 21))):
        assert torch.equal(montage[0, :, row * 14:row * 14 + 14, col * 14:col * 14 + 14],
                           flow[0, :, y - 7:y + 7, x - 7:x + 7])


def test_a_mirrored_region_montage_is_the_montage_of_the_mirrored_face():
    rng = np.random.default_rng(0)
    flow = torch.from_numpy(rng.normal(size=(1, 3, 28, 28)).astype(np.float32))
    centres = torch.tensor([[[0.25, 0.5], [0.75, 0.5], [0.3, 0.75], [0.7, 0.75]]])   # a symmetric face
    spec = InputSpec("flow_regions", size=28, per_image="none")
    mirrored = region_patches(flow, centres, spec, flip=torch.tensor([True]))
    plain = region_patches(flow, centres, spec)
    # Top-left of the mirrored face = the image-right eye patch, mirrored, with u negated.
    expected = plain[0, :, :14, 14:].flip(-1)
    expected[0] *= -1
    assert torch.allclose(mirrored[0, :, :14, :14], expected)


# A flow image whose four quadrants hold one region each, channel c of region k = 10·(k+1) + c:
# the eye centres (x, y) at (7, 7), (21, 7), the mouth corners at (7, 21), (21, 21) on the 28 grid.
QUADRANTS = {"eye_left": (0, 0), "eye_right": (0, 1), "mouth_left": (1, 0), "mouth_right": (1, 1)}
VALUE = {"eye_left": 10.0, "eye_right": 20.0, "mouth_left": 30.0, "mouth_right": 40.0}


def quadrant_face():
    flow = torch.zeros(1, 3, 28, 28)
    for name, (row, col) in QUADRANTS.items():
        for c in range(3):
            flow[0, c, row * 14:row * 14 + 14, col * 14:col * 14 + 14] = VALUE[name] + c
    centres = torch.tensor([[[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]])   # REGION_LANDMARKS order
    return flow, centres


def tiles(montage: torch.Tensor) -> list[list[float]]:
    """Each 14×14 tile's (u, v, strain), row-major; asserts every tile is one region's constant."""
    out = []
    for row, col in ((0, 0), (0, 1), (1, 0), (1, 1)):
        tile = montage[0, :, row * 14:row * 14 + 14, col * 14:col * 14 + 14]
        assert torch.equal(tile, tile[:, :1, :1].expand_as(tile))
        out.append(tile[:, 0, 0].tolist())
    return out


def region(name: str, mirrored: bool = False) -> list[float]:
    u, v, strain = VALUE[name], VALUE[name] + 1, VALUE[name] + 2
    return [-u if mirrored else u, v, strain]


def htnet_spec(**model) -> InputSpec:
    return METHODS["htnet"].input_spec({"input_size": 28, "per_image": "none", **model})


def test_htnets_default_montage_is_the_authors_eye_and_mouth_left_over_eye_and_mouth_right():
    spec = htnet_spec()
    assert spec.montage == "authors" and create_model("htnet").input_spec.montage == "authors"
    flow, centres = quadrant_face()
    assert tiles(region_patches(flow, centres, spec)) == [region("eye_left"), region("mouth_left"),
                                                          region("eye_right"), region("mouth_right")]


def test_htnets_regions_montage_puts_the_eyes_over_the_mouth_corners():
    spec = htnet_spec(montage="regions")
    assert spec.montage == "regions"
    flow, centres = quadrant_face()
    assert tiles(region_patches(flow, centres, spec)) == [region("eye_left"), region("eye_right"),
                                                          region("mouth_left"), region("mouth_right")]
    with pytest.raises(ValueError, match="montage must be one of"):
        htnet_spec(montage="diagonal")


def test_the_authors_montage_is_what_their_transposed_slicing_cuts():
    """main_HTNet.py cuts around MTCNN's (x, y) points used as (row, col) and tiles them [0 | 1] over
    [3 | 4]. On its fallback points (clamped to [7, 21], truncated) the patch centres fall, in (row, col),
    at (9, 11), (21, 10), (10, 21), (20, 21): the left eye, the left mouth corner, the right eye and the
    right mouth corner of the 28×28 face, which is MONTAGES["authors"] in row-major order."""
    fallback = np.array([[9.528073, 11.062551], [21.396168, 10.919773], [15.380184, 17.380562],
                         [10.255435, 22.121233], [20.583706, 22.25584]])
    cut = np.clip(fallback, 7, 21).astype(int)[[0, 1, 3, 4]]           # (row, col) of each tile's centre
    assert cut.tolist() == [[9, 11], [21, 10], [10, 21], [20, 21]]
    where = [("eye" if row < 14 else "mouth") + ("_left" if col < 14 else "_right") for row, col in cut]
    assert tuple(where) == MONTAGES["authors"]


@pytest.mark.parametrize("layout", ["authors", "regions"])
def test_a_flipped_sample_gives_the_montage_of_the_mirrored_face_in_either_layout(layout):
    import pandas as pd

    spec = htnet_spec(montage=layout)
    flow, centres = quadrant_face()
    data = ProtocolData(pd.DataFrame(index=range(2)), spec,
                        (flow.repeat(2, 1, 1, 1).numpy().astype(np.float16), centres.repeat(2, 1, 1).numpy()),
                        torch.zeros(2, dtype=torch.long), torch.zeros(2, 0), torch.zeros(2, dtype=torch.bool))
    x = data.batch([0, 1], flip=torch.tensor([True, False]))
    # The mirrored face's left eye is the face's right eye, mirrored (u negated), and so on.
    partner = {"eye_left": "eye_right", "eye_right": "eye_left",
               "mouth_left": "mouth_right", "mouth_right": "mouth_left"}
    assert tiles(x[:1]) == [region(partner[name], mirrored=True) for name in MONTAGES[layout]]
    assert tiles(x[1:]) == [region(name) for name in MONTAGES[layout]]


def test_an_input_spec_round_trips_through_its_dict_with_the_montage():
    for spec in (htnet_spec(), htnet_spec(montage="regions"), InputSpec("flow", size=28, per_image="minmax_255")):
        assert InputSpec.of(spec.to_dict()) == spec
    assert "montage" not in InputSpec("flow").to_dict()              # other kinds' stored specs as before
    assert InputSpec.of({"kind": "flow_regions"}).montage == "regions"   # a spec stored before the key


# --- inputs derived from the artefact ----------------------------------------------------------------

def _flow_data(flow: np.ndarray, spec: InputSpec) -> ProtocolData:
    import pandas as pd
    n = flow.shape[0]
    return ProtocolData(pd.DataFrame(index=range(n)), spec, (flow.astype(np.float16),),
                        torch.zeros(n, dtype=torch.long), torch.zeros(n, 0), torch.zeros(n, dtype=torch.bool))


def test_resizing_a_flow_rescales_its_vectors_and_keeps_the_strain():
    flow = np.zeros((1, 3, 64, 64), np.float32)
    flow[0, 0], flow[0, 1], flow[0, 2] = 2.0, -1.0, 0.25     # u 2 px, v -1 px on the 64 grid
    x = _flow_data(flow, InputSpec("flow", size=28)).batch([0])
    assert x.shape == (1, 3, 28, 28)
    assert torch.allclose(x[0, 0], torch.full((28, 28), 2.0 * 28 / 64), atol=1e-3)
    assert torch.allclose(x[0, 1], torch.full((28, 28), -1.0 * 28 / 64), atol=1e-3)
    assert torch.allclose(x[0, 2], torch.full((28, 28), 0.25), atol=1e-3)


def test_a_channel_subset_mirrors_u_before_the_per_image_scaling():
    rng = np.random.default_rng(1)
    flow = rng.normal(size=(2, 3, 28, 28)).astype(np.float32)
    spec = InputSpec("flow", channels=("u", "v"), per_image="minmax_255")
    data = _flow_data(flow, spec)
    x = data.batch([0, 1], flip=torch.tensor([True, False]))
    assert x.shape == (2, 2, 28, 28)
    assert torch.allclose(x.amin(dim=(2, 3)), torch.zeros(2, 2)) and torch.allclose(x.amax(dim=(2, 3)), torch.full((2, 2), 255.0))
    u = torch.from_numpy(flow[0, 0]).half().float()
    mirrored_u = -u.flip(-1)                                   # mirror the field, negate u, then scale
    expected = (mirrored_u - mirrored_u.min()) / (mirrored_u.max() - mirrored_u.min()) * 255
    assert torch.allclose(x[0, 0], expected, atol=1e-3)
    assert InputSpec("flow", channels=("v", "strain")).u_channel is None


def test_input_spec_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown model input 'optical'"):
        InputSpec("optical")
    with pytest.raises(ValueError, match="input channels must be distinct names among"):
        InputSpec("flow", channels=("u", "w"))
    with pytest.raises(ValueError, match="per_image must be one of"):
        InputSpec("flow", per_image="zscore")
    with pytest.raises(ValueError, match="a baseline has no AU head"):
        create_model("ststnet", aus=[1, 2])


# --- recipes ----------------------------------------------------------------------------------------

def test_each_baseline_trains_with_its_papers_recipe_unless_config_departs():
    run_wide = {"epochs": 8, "lr": 0.001, "optimizer": "adamw", "seeds": [0, 1], "device": "cpu"}
    ststnet = training_settings("ststnet", run_wide)
    assert (ststnet["optimizer"], ststnet["lr"], ststnet["batch_size"], ststnet["epochs"]) == ("adam", 5e-5, 256, 800)
    assert ststnet["seeds"] == [0, 1] and ststnet["device"] == "cpu"        # run-wide keys stay
    assert training_settings("htnet", run_wide)["epochs"] == 800
    off = training_settings("off_apexnet", run_wide, {"training": {"epochs": 300}})
    assert (off["lr"], off["batch_size"], off["epochs"]) == (1e-4, 64, 300)
    assert training_settings("amnet2d", run_wide)["lr"] == 0.001            # FAMNet: the training section
    with pytest.raises(ValueError, match=r"models.ststnet.training: \['seeds'\] are run-wide keys"):
        training_settings("ststnet", run_wide, {"training": {"seeds": [3]}})
    assert set(BASELINES) == {"ststnet", "off_apexnet", "htnet", "sssnet"}
    assert all(METHODS[b].paper["protocol"] == "megc2019" for b in BASELINES)


def test_baselines_train_in_fp32_unless_their_config_says_otherwise():
    run_wide = {"amp": True, "epochs": 8, "lr": 0.001, "seeds": [0], "device": "cuda"}
    for name in BASELINES:
        assert training_settings(name, run_wide)["amp"] is False, name       # their authors trained in fp32
        assert TrainConfig.from_dict(training_settings(name, run_wide)).amp is False
    assert training_settings("amnet2d", run_wide)["amp"] is True              # FAMNet's branches: training.amp
    assert training_settings("amnet3d", {**run_wide, "amp": False})["amp"] is False
    assert training_settings("ststnet", run_wide, {"training": {"amp": True}})["amp"] is True


# --- each baseline learns the toy classes under LOSO -------------------------------------------------

SMALL = {"htnet": {"dim": 16, "block_repeats": [1, 1, 1]}}


@pytest.mark.parametrize("name", BASELINES)
def test_a_baseline_learns_the_toy_classes_under_loso(toy, name):
    root, table = toy
    run = lambda fold: FoldRun("toy", name, fold=fold, classes=CLASSES, aus=AUS, model_config=SMALL.get(name, {}))
    data = load_protocol_data(table, root / "preprocessed", run(0).input, run(0).head_aus)
    assert data.batch([0]).shape[1:] == create_model(name, **SMALL.get(name, {})).default_input_shape
    # The paper's recipe at a toy's scale: fewer epochs, a larger step (3 batches an epoch).
    recipe = training_settings(name, {"threads": 1, "device": "cpu"})
    cfg = TrainConfig.from_dict({**recipe, "epochs": 40, "batch_size": 6, "lr": 1e-3})
    correct = total = 0
    for fold in (0, 3):
        result = train_fold(run(fold), data, cfg, progress=False)
        assert result["info"]["aus"] == [] and result["info"]["input_spec"]["kind"] == run(0).input.kind
        frame = predict_fold(result["model"], result["info"], data, torch.device("cpu"))
        assert not any(c.startswith("au_") for c in frame.columns)
        correct += int((frame["prediction"] == frame["label"]).sum())
        total += len(frame)
    assert total == 12 and correct >= 10


def test_config_paper_yaml_trains_every_baseline_with_its_papers_recipe_and_size():
    from pathlib import Path

    from famnet.config import load_config
    from famnet.methods import RECIPE_KEYS, architecture
    from famnet.models import HTNetConfig

    repo = Path(__file__).resolve().parent.parent
    paper = load_config(repo / "config" / "config.yaml", repo / "config" / "paper.yaml")
    for name in BASELINES:
        settings = training_settings(name, paper["training"], paper["models"].get(name))
        assert {k: settings[k] for k in RECIPE_KEYS} == METHODS[name].recipe, name
    htnet = HTNetConfig.from_dict(architecture(paper["models"]["htnet"]))
    assert (htnet.dim, htnet.block_repeats, htnet.heads, htnet.input_size) == (256, (2, 2, 10), 3, 28)


def test_a_size_not_set_is_the_papers_each_config_class_defaults_to_its_papers_sizes():
    """famnet.methods.size_departures reads a key the config does not set as the paper's size: so
    every model config class must default to its paper's sizes."""
    from dataclasses import fields

    from famnet.methods import size_departures
    from famnet.models import HTNetConfig, ModelConfig, SSSNetConfig
    from famnet.models.baselines import BaselineConfig

    classes = {"amnet2d": ModelConfig, "amnet3d": ModelConfig, "ststnet": BaselineConfig,
               "off_apexnet": BaselineConfig, "htnet": HTNetConfig, "sssnet": SSSNetConfig}
    for name, config_class in classes.items():
        defaults = {f.name: f.default for f in fields(config_class)}
        sizes = METHODS[name].paper_sizes
        assert sizes, name
        assert {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items() if k in sizes} == sizes, name
        assert size_departures(name, {}) == []
    assert size_departures("htnet", {"dim": 32, "block_repeats": [1, 1, 1]}) == ["dim 32", "1 block per level"]
    assert size_departures("htnet", {"block_repeats": [2, 2, 4]}) == ["blocks per level 2, 2, 4"]
    assert size_departures("amnet2d", {"width": 0.25, "input": "flow"}) == ["width 0.25"]
