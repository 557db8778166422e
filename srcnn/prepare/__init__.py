"""Training data for SRCNN: whole images -> degraded/clean patch pairs streamed into an HDF5 file
("srcnn-patches", srcnn.h5format; layout in docs/formats.md).

    from srcnn.prepare import PrepareConfig, find_images, prepare
    summary = prepare(find_images("datasets/T91"), "datasets/T91", "train.h5", PrepareConfig(scales=(3,)))

Work is done per image (one task per image, in any number of worker processes). Results are written
in image order and every image draws its noise from its own generator seeded by (seed, image index),
so the datasets are byte-identical for any number of workers. At most a few images' patches are in
memory at a time, whatever the number of images.

Resumable: results are committed in segments (a few tens of thousands of samples, an atomic rename
each) to ``.OUT.partial/`` beside the output; an interrupted run (Ctrl-C, SIGTERM, crash, SIGKILL)
continues from the last commit with ``resume=True`` (``--resume``), and the final file(s) are assembled
from the segments and renamed into place only at the end, so the output is identical either way.

The modules, each one concern:
  config    PrepareConfig: the options that decide the content, validated
  patches   one image -> its (input, label) patches: the recipe, patch geometry, augmentation
  pool      the worker processes, results in image order; SIGINT/SIGTERM handling
  writer    HDF5 writing: PatchWriter, free-space checks, failed writes, the fingerprint
  segments  the partial folder: committed segments, the run key, the lock
  run       prepare() from start to end: checks, start or resume, process, assemble
"""
from .config import PrepareConfig
from .run import Interrupted, Summary, find_images, prepare

__all__ = ["Interrupted", "PrepareConfig", "Summary", "find_images", "prepare"]
