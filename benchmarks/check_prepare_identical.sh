#!/usr/bin/env bash
# Are prepare_data.py's HDF5 files byte-identical between two checkouts (e.g. before and after a refactor)?
#
#   git worktree add /tmp/before HEAD
#   benchmarks/check_prepare_identical.sh /tmp/before . [WORK_DIR]
#
# Runs prepare_data.py of each checkout with the same arguments, for several configurations, from the
# same relative folder name (the 'command' attribute holds --out), with the wall-clock 'created'
# attribute frozen, and compares every output file with cmp. Images come from $SRCNN_DATA (default
# ./datasets of the NEW checkout). Exit status 0 when every file is identical, 1 otherwise.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 OLD_CHECKOUT NEW_CHECKOUT [WORK_DIR]" >&2
    exit 2
fi
old=$(realpath "$1")
new=$(realpath "$2")
work=$(realpath -m "${3:-$(mktemp -d /tmp/prepare-identical.XXXXXX)}")
data=$(realpath "${SRCNN_DATA:-$new/datasets}")
mkdir -p "$work"

# BSD200 subset: the first 12 images, through symlinks in a folder of their own
mkdir -p "$work/bsd12"
for f in $(ls "$data/BSD200" | sort | head -12); do ln -sf "$data/BSD200/$f" "$work/bsd12/$f"; done

configs=(
    "t91_x3|--set T91 --data-root $data --scale 3 --val-fraction 0.05"
    "t91_fsrcnn|--set T91 --data-root $data --model fsrcnn --val-fraction 0.05"
    "t91_x234|--set T91 --data-root $data --scale 2,3,4 --val-fraction 0.05 --workers 2"
    "set14_blur_noise_rgb|--set Set14 --data-root $data --scale 3 --blur-sigma 1.2 --noise-sigma 5 --channels rgb --label-size 21 --val-fraction 0.2 --seed 7"
    "set5_fsrcnn_x2_aug|--set Set5 --data-root $data --model fsrcnn --scale 2 --augment --blur-sigma 0.8 --noise-sigma 3 --val-fraction 0.2"
    "bsd12_shards|--images $work/bsd12 --scale 4 --val-fraction 0.1 --shard-size 3000 --workers 2"
)

# prepare_data.py of checkout $1 run in folder $2 with the remaining arguments; 'created' frozen
cat > "$work/frozen_prepare.py" <<'EOF'
import datetime
import sys


class Frozen(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2000, 1, 1, tzinfo=tz)


datetime.datetime = Frozen

if __name__ == "__main__":  # a real file with a guard: pool workers (forkserver) import it again
    tree = sys.argv.pop(1)
    import srcnn.cli.prepare as cli
    assert cli.__file__.startswith(tree + "/"), (cli.__file__, tree)
    sys.exit(cli.main(sys.argv[1:]))
EOF
run() {
    local tree=$1 dir=$2
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && PYTHONPATH="$tree" timeout 900 python "$work/frozen_prepare.py" "$tree" "$@")
}

status=0
for entry in "${configs[@]}"; do
    name=${entry%%|*}
    args=${entry#*|}
    for side in old new; do
        tree=$old; [ $side = new ] && tree=$new
        start=$(date +%s)
        # shellcheck disable=SC2086
        run "$tree" "$work/$side/$name" $args --out out.h5 > "$work/$side-$name.log" 2>&1 \
            || { echo "FAIL $name: $side run failed, see $work/$side-$name.log"; status=1; continue 2; }
        echo "  $name $side: $(( $(date +%s) - start )) s, $(tail -n 1 "$work/$side-$name.log" | cut -c1-100)"
    done
    files=$(cd "$work/old/$name" && ls)
    [ "$files" = "$(cd "$work/new/$name" && ls)" ] || { echo "FAIL $name: different files"; status=1; continue; }
    for f in $files; do
        if cmp "$work/old/$name/$f" "$work/new/$name/$f"; then
            echo "same $name/$f $(stat -c %s "$work/new/$name/$f") bytes $(sha256sum < "$work/new/$name/$f" | cut -c1-16)"
        else
            echo "DIFFERENT $name/$f"
            status=1
        fi
    done
done
exit $status
