"""paper_repro.data: loaders on tiny files in the real formats, clear errors, the digits
split, Gaussian inputs, augmentation and batching."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from paper_repro.data import (  # noqa: E402
    DatasetError,
    augment_crop_flip,
    digits_split,
    gaussian_inputs,
    iterate_batches,
    load_dataset,
)

RNG = np.random.default_rng(1234)


# --------------------------------------------------------------------------- file writers


def write_idx(path: Path, arr: np.ndarray, magic: int | None = None, gz: bool = False) -> Path:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = (0x08 << 8 | arr.ndim) if magic is None else magic
    raw = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = False) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test)[::-1] % 10,
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gz=gz)
    return arrays


def write_cifar(root: Path, hundred: bool = False, per_batch: int = 4) -> dict:
    if hundred:
        folder, files, key, classes = root / "cifar-100-python", ["train", "test"], b"fine_labels", 100
    else:
        folder, files, key, classes = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + [
            "test_batch"
        ], b"labels", 10
    folder.mkdir(parents=True)
    written = {}
    for i, name in enumerate(files):
        batch = {
            b"data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            key: [int(v) for v in (np.arange(per_batch) + 3 * i) % classes],
            b"batch_label": name.encode(),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = batch
    return written


COLORS = {"n01443537": (230, 20, 20), "n09999999": (20, 20, 230)}


def write_tinyimagenet(root: Path) -> None:
    from PIL import Image

    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(COLORS) + "\n")
    ann = []
    for wnid, rgb in COLORS.items():
        folder = base / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (64, 64), rgb).save(folder / f"{wnid}_{i}.JPEG", "JPEG")
        name = f"val_{len(ann)}.JPEG"
        Image.new("RGB", (64, 64), rgb).save(base / "val" / "images" / name, "JPEG")
        ann.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")


def assert_normalized(ds) -> None:
    """Train split: per-channel mean 0 and std 1 (the statistics are the train split's)."""
    x = ds.x_train.double()
    assert ds.x_train.dtype == torch.float32
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(x.shape[1], dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(x.shape[1], dtype=torch.float64), atol=1e-4)


# --------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_round_trip(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    ds = load_dataset("mnist", tmp_path)
    assert (ds.name, ds.num_classes, ds.input_shape) == ("mnist", 10, (1, 28, 28))
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist() and ds.y_train.dtype == torch.int64
    pixels = arrays["train-images-idx3-ubyte"] / 255.0
    assert ds.mean[0] == pytest.approx(pixels.mean()) and ds.std[0] == pytest.approx(pixels.std())
    restored = ds.x_test[:, 0].double() * ds.std[0] + ds.mean[0]
    np.testing.assert_allclose(restored.numpy(), arrays["t10k-images-idx3-ubyte"] / 255.0, atol=1e-5)
    assert_normalized(ds)


def test_mnist_torchvision_layout_is_found(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    assert load_dataset("mnist", tmp_path).x_train.shape[0] == 20


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickles(tmp_path, hundred):
    written = write_cifar(tmp_path, hundred)
    name = "cifar100" if hundred else "cifar10"
    ds = load_dataset(name, tmp_path)
    n_train = 4 if hundred else 20
    assert ds.x_train.shape == (n_train, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.num_classes == (100 if hundred else 10) and ds.input_shape == (3, 32, 32)
    test = written["test" if hundred else "test_batch"]
    assert ds.y_test.tolist() == test[b"fine_labels" if hundred else b"labels"]
    # Row layout of the pickles: 1024 red, then 1024 green, then 1024 blue values, row-major.
    first = test[b"data"][0].reshape(3, 32, 32) / 255.0
    restored = ds.x_test[0].double() * torch.tensor(ds.std).view(3, 1, 1) + torch.tensor(ds.mean).view(3, 1, 1)
    np.testing.assert_allclose(restored.numpy(), first, atol=1e-5)
    assert_normalized(ds)


def test_tinyimagenet_jpeg_folders(tmp_path):
    write_tinyimagenet(tmp_path)
    ds = load_dataset("tinyimagenet", tmp_path)
    assert ds.x_train.shape == (6, 3, 64, 64) and ds.x_test.shape == (2, 3, 64, 64)
    assert ds.num_classes == 2 and ds.y_train.tolist() == [0, 0, 0, 1, 1, 1] and ds.y_test.tolist() == [0, 1]
    # JPEG is lossy: compare the decoded mean colour of the first validation image with the red we wrote.
    red = ds.x_test[0].double() * torch.tensor(ds.std).view(3, 1, 1) + torch.tensor(ds.mean).view(3, 1, 1)
    np.testing.assert_allclose(red.mean(dim=(1, 2)).numpy() * 255, COLORS["n01443537"], atol=4)


def test_load_dataset_is_memoized_and_digits_ignores_data_dir(tmp_path):
    assert load_dataset("digits") is load_dataset("digits", tmp_path)


# --------------------------------------------------------------------------- errors name the file


def test_unknown_name_and_missing_data_dir(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; choose from digits, mnist"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="'cifar10' is read from files: pass data_dir"):
        load_dataset("cifar10")
    with pytest.raises(DatasetError, match=f"data directory {tmp_path / 'nowhere'} does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match=r"missing .*mnist.train-images-idx3-ubyte \(MNIST IDX files"):
        load_dataset("mnist", tmp_path)
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match=r"missing .*cifar-10-batches-py.data_batch_3 \(CIFAR-10 python version: https"):
        load_dataset("cifar10", tmp_path)
    write_tinyimagenet(tmp_path)
    (tmp_path / "tiny-imagenet-200" / "val" / "images" / "val_1.JPEG").unlink()
    with pytest.raises(DatasetError, match=r"missing .*val_1.JPEG \(listed in .*val_annotations.txt\)"):
        load_dataset("tinyimagenet", tmp_path)


def test_bad_magic_and_truncated_idx(tmp_path):
    folder = tmp_path / "mnist"
    arrays = write_mnist(folder)
    write_idx(folder / "train-images-idx3-ubyte", arrays["train-images-idx3-ubyte"], magic=1234)
    with pytest.raises(DatasetError, match=r"expected IDX magic 2051 in .*train-images-idx3-ubyte, got 1234"):
        load_dataset("mnist", tmp_path)
    write_idx(folder / "train-images-idx3-ubyte", arrays["train-images-idx3-ubyte"])
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"truncated IDX file .*t10k-images-idx3-ubyte: header says shape \(10, 28, 28\)"):
        load_dataset("mnist", tmp_path)


def test_truncated_gzip_and_label_mismatch(tmp_path):
    folder = tmp_path / "mnist"
    arrays = write_mnist(folder, gz=True)
    gz = folder / "train-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:15])
    with pytest.raises(DatasetError, match=r"cannot read .*train-labels-idx1-ubyte.gz"):
        load_dataset("mnist", tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte", arrays["train-labels-idx1-ubyte"][:5], gz=True)
    with pytest.raises(DatasetError, match=r"holds 20 images but .*train-labels-idx1-ubyte.gz holds 5 labels"):
        load_dataset("mnist", tmp_path)


def test_malformed_cifar_pickles(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"cannot unpickle .*test_batch"):
        load_dataset("cifar10", tmp_path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1]}))
    with pytest.raises(DatasetError, match=r"test_batch must be a dict with keys b'data' and b'labels'"):
        load_dataset("cifar10", tmp_path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DatasetError, match=r"test_batch: expected b'data' of uint8 shape \(N, 3072\)"):
        load_dataset("cifar10", tmp_path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(DatasetError, match=r"labels in .*test_batch must lie in \[0, 10\)"):
        load_dataset("cifar10", tmp_path)


# --------------------------------------------------------------------------- digits split


def test_digits_split_is_fixed_stratified_and_normalized():
    from sklearn.datasets import load_digits

    y = load_digits().target
    train, test = digits_split()
    again_train, again_test = digits_split()
    assert np.array_equal(test, again_test) and np.array_equal(train, again_train)
    assert (len(train), len(test)) == (1437, 360)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    # Stratified: each class's test count is its proportional share, rounded down or up.
    share = np.bincount(y) * 360 / len(y)
    counts = np.bincount(y[test])
    assert np.all((counts == np.floor(share)) | (counts == np.ceil(share)))
    assert not np.array_equal(digits_split(seed=1)[1], test)
    ds = load_dataset("digits")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert ds.y_test.tolist() == y[test].tolist()
    assert_normalized(ds)


# --------------------------------------------------------------------------- Gaussian inputs


def test_gaussian_inputs_have_exact_variance_and_are_seeded():
    x = gaussian_inputs(7, 50, seed=3, q=2.5, dtype=torch.float64)
    assert x.shape == (7, 50)
    np.testing.assert_allclose(((x**2).sum(dim=1) / 50).numpy(), 2.5, rtol=1e-14)
    assert torch.equal(x, gaussian_inputs(7, 50, seed=3, q=2.5, dtype=torch.float64))
    assert not torch.equal(x, gaussian_inputs(7, 50, seed=4, q=2.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="q must be > 0 and finite, got q=-1"):
        gaussian_inputs(2, 3, seed=0, q=-1)
    with pytest.raises(ValueError, match="n and dim must be >= 1, got n=0"):
        gaussian_inputs(0, 3, seed=0)


# --------------------------------------------------------------------------- augmentation and batches


def _is_crop_or_flipped_crop(out: torch.Tensor, padded: torch.Tensor, pad: int) -> tuple[bool, bool, bool]:
    h, w = out.shape[-2:]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            window = padded[:, dy : dy + h, dx : dx + w]
            if torch.equal(out, window):
                return True, False, (dy, dx) != (pad, pad)
            if torch.equal(out, window.flip(-1)):
                return True, True, (dy, dx) != (pad, pad)
    return False, False, False


def test_augmentation_crops_flips_and_is_seeded():
    x = torch.arange(32 * 3 * 8 * 8, dtype=torch.float32).reshape(32, 3, 8, 8)
    fill = (-1.0, -2.0, -3.0)
    out = augment_crop_flip(x, torch.Generator().manual_seed(0), padding=2, fill=fill)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, augment_crop_flip(x, torch.Generator().manual_seed(0), padding=2, fill=fill))
    assert not torch.equal(out, augment_crop_flip(x, torch.Generator().manual_seed(1), padding=2, fill=fill))
    padded = torch.tensor(fill).view(1, 3, 1, 1).expand(32, 3, 12, 12).clone()
    padded[:, :, 2:10, 2:10] = x
    found = [_is_crop_or_flipped_crop(out[i], padded[i], 2) for i in range(32)]
    assert all(f[0] for f in found), "every output is a (possibly mirrored) window of the padded image"
    assert any(f[1] for f in found) and not all(f[1] for f in found), "some images flipped, some not"
    assert any(f[2] for f in found), "some windows shifted"
    with pytest.raises(ValueError, match="fill must be a scalar or have 3 values"):
        augment_crop_flip(x, torch.Generator(), fill=(0.0, 0.0))


def test_iterate_batches_covers_every_example_once():
    x = torch.arange(10.0).view(10, 1)
    y = torch.arange(10)
    batches = list(iterate_batches(x, y, 4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in batches)
    with pytest.raises(ValueError, match="need a seeded torch.Generator"):
        next(iterate_batches(x, y, 4, shuffle=True))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        next(iterate_batches(x, y, 0))
