"""eoc.datasets (readers on tiny files in the real formats, clear errors naming the file
and --data-dir, the digits split, data fingerprints, no torch) and paper_repro.batches
(tensors, augmentation and batching)."""

from __future__ import annotations

import pickle
from pathlib import Path

import subprocess
import sys

import numpy as np
import pytest

from eoc import datasets
from eoc.datasets import DatasetError, digits_split, fingerprint

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent


def load_dataset(name, data_dir=None):
    return datasets.load(name, data_dir)

from _datasets import COLORS, write_cifar, write_idx, write_mnist, write_tinyimagenet  # noqa: E402


def assert_normalized(ds) -> None:
    """Train split: per-channel mean 0 and std 1 (the statistics are the train split's); read-only float32."""
    x = ds.train.x.astype(np.float64)
    assert ds.train.x.dtype == np.float32 and ds.train.y.dtype == np.int64
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    assert not ds.train.x.flags.writeable and not ds.test.y.flags.writeable


# --------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_round_trip(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    ds = load_dataset("mnist", tmp_path)
    assert (ds.name, ds.num_classes, ds.input_shape) == ("mnist", 10, (1, 28, 28))
    assert ds.train.x.shape == (20, 1, 28, 28) and ds.test.x.shape == (10, 1, 28, 28)
    assert ds.test.y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist() and ds.train.y.dtype == np.int64
    pixels = arrays["train-images-idx3-ubyte"] / 255.0
    assert ds.mean[0] == pytest.approx(pixels.mean()) and ds.std[0] == pytest.approx(pixels.std())
    restored = ds.test.x[:, 0].astype(np.float64) * ds.std[0] + ds.mean[0]
    np.testing.assert_allclose(restored, arrays["t10k-images-idx3-ubyte"] / 255.0, atol=1e-5)
    assert_normalized(ds)


def test_mnist_torchvision_layout_is_found(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    assert load_dataset("mnist", tmp_path).train.x.shape[0] == 20


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickles(tmp_path, hundred):
    written = write_cifar(tmp_path, hundred)
    name = "cifar100" if hundred else "cifar10"
    ds = load_dataset(name, tmp_path)
    n_train = 4 if hundred else 20
    assert ds.train.x.shape == (n_train, 3, 32, 32) and ds.test.x.shape == (4, 3, 32, 32)
    assert ds.num_classes == (100 if hundred else 10) and ds.input_shape == (3, 32, 32)
    test = written["test" if hundred else "test_batch"]
    assert ds.test.y.tolist() == test[b"fine_labels" if hundred else b"labels"]
    # Row layout of the pickles: 1024 red, then 1024 green, then 1024 blue values, row-major.
    first = test[b"data"][0].reshape(3, 32, 32) / 255.0
    restored = ds.test.x[0].astype(np.float64) * np.reshape(ds.std, (3, 1, 1)) + np.reshape(ds.mean, (3, 1, 1))
    np.testing.assert_allclose(restored, first, atol=1e-5)
    assert_normalized(ds)


def test_tinyimagenet_jpeg_folders(tmp_path):
    write_tinyimagenet(tmp_path)
    ds = load_dataset("tinyimagenet", tmp_path)
    assert ds.train.x.shape == (6, 3, 64, 64) and ds.test.x.shape == (2, 3, 64, 64)
    assert ds.num_classes == 2 and ds.train.y.tolist() == [0, 0, 0, 1, 1, 1] and ds.test.y.tolist() == [0, 1]
    # JPEG is lossy: compare the decoded mean colour of the first validation image with the red we wrote.
    red = ds.test.x[0].astype(np.float64) * np.reshape(ds.std, (3, 1, 1)) + np.reshape(ds.mean, (3, 1, 1))
    np.testing.assert_allclose(red.mean(axis=(1, 2)) * 255, COLORS["n01443537"], atol=4)


def test_load_is_memoized_digits_ignores_data_dir_and_split_gives_one_split(tmp_path):
    ds = load_dataset("digits")
    assert ds is load_dataset("digits", tmp_path)
    train = datasets.load("digits", split="train")
    assert train is ds.train and len(train) == 1437 and datasets.load("digits", split="test") is ds.test
    assert train.num_classes == 10
    with pytest.raises(ValueError, match="split must be None, 'train' or 'test', got split='val'"):
        datasets.load("digits", split="val")


def test_synthetic_dataset_needs_no_file_and_is_learnable_by_its_class_means():
    ds = datasets.load("synthetic")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10 and len(ds.train) == 1000
    assert not datasets.needs_files("synthetic") and datasets.needs_files("mnist")
    # The nearest training-class mean classifies the test split far above chance (1/10).
    means = np.stack([ds.train.x[ds.train.y == c].mean(axis=0).ravel() for c in range(10)])
    dist = ((ds.test.x.reshape(len(ds.test), 1, -1) - means[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == ds.test.y).mean() > 0.8


# --------------------------------------------------------------------------- fingerprints


def test_fingerprints_identify_the_data_read(tmp_path):
    """Two different copies differ; a byte-identical copy elsewhere has the same identity."""
    write_mnist(tmp_path / "a" / "mnist")
    write_mnist(tmp_path / "b" / "mnist")  # new random images
    fa, fb = fingerprint("mnist", tmp_path / "a"), fingerprint("mnist", tmp_path / "b")
    assert fa.startswith("mnist:") and fa != fb
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "c")
    assert fingerprint("mnist", tmp_path / "c") == fa
    assert load_dataset("mnist", tmp_path / "a").fingerprint == fa
    digits = fingerprint("digits")
    assert digits.startswith("digits:") and digits == fingerprint("digits", tmp_path) == load_dataset("digits").fingerprint
    assert fingerprint("synthetic").startswith("synthetic:")


def test_the_readers_import_no_torch():
    """eoc.datasets is numpy only: it loads digits in a process where torch cannot be imported."""
    code = (
        "import sys, importlib.abc\n"
        "class B(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, B())\n"
        "from eoc import datasets\n"
        "ds = datasets.load('digits'); assert ds.train.x.shape == (1437, 1, 8, 8)\n"
        "assert 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


# --------------------------------------------------------------------------- errors name the file


def test_unknown_name_and_missing_data_dir(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; choose from digits, mnist"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="'cifar10' is read from files: pass data_dir \\(on the command line --data-dir\\)"):
        load_dataset("cifar10")
    with pytest.raises(DatasetError, match=f"data directory {tmp_path / 'nowhere'} does not exist .*--data-dir"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match=r"missing .*mnist.train-images-idx3-ubyte \(MNIST IDX files"):
        load_dataset("mnist", tmp_path)
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match=r"missing .*cifar-10-batches-py.data_batch_3 \(CIFAR-10 python version: https.*--data-dir names the folder"):
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
    assert ds.test.y.tolist() == y[test].tolist()
    assert_normalized(ds)


# --------------------------------------------------------------------------- augmentation and batches (torch)


def _torch():
    return pytest.importorskip("torch")


def _is_crop_or_flipped_crop(out, padded, pad: int) -> tuple[bool, bool, bool]:
    torch = _torch()
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
    torch = _torch()
    from paper_repro.batches import augment_crop_flip

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
    torch = _torch()
    from paper_repro.batches import iterate_batches

    x = torch.arange(10.0).view(10, 1)
    y = torch.arange(10)
    batches = list(iterate_batches(x, y, 4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in batches)
    with pytest.raises(ValueError, match="need a seeded torch.Generator"):
        next(iterate_batches(x, y, 4, shuffle=True))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got batch_size=0"):
        next(iterate_batches(x, y, 0))


def test_tensors_are_views_of_the_dataset():
    torch = _torch()
    from paper_repro.batches import load_tensors, tensors

    ds = load_dataset("digits")
    t = tensors(ds)
    assert t is load_tensors("digits") and t.input_shape == (1, 8, 8) and t.fingerprint == ds.fingerprint
    assert t.x_train.dtype == torch.float32 and t.y_train.dtype == torch.int64
    assert np.shares_memory(t.x_train.numpy(), ds.train.x), "no copy of the images"
    assert t.black == pytest.approx(ds.black)
