# The model and schedule of every run on the embedded data set, sized for 2 CPU cores
# (see README "The embedded benchmark"), and the step that makes a synthetic data set.
# Sourced by main_job.sh and pretrain_source.sh, so that a pretrained backbone fits the
# runs that load it.
EMBEDDED_FLAGS=(--backbone=mobilenet_v2 --width_multiplier=0.5 --output_stride=16
                --aspp_filters=64 --decoder_filters=64 --low_level_filters=24
                --sgc_dim=32 --crop_size=96,96 --min_scale=0.75 --max_scale=1.25
                --scale_step=0.25 --batch_size=8 --base_learning_rate=0.1
                --weight_decay=1e-5 --warmup_steps=50 --steps_per_loop=25
                --checkpoint_every=200 --summary_every=50 --image_summary_every=300)

# make_embedded_data DIR WHAT [make_synthetic_voc.py flags...]: unless DIR/tfrecord has a
# dataset_info.json, draws a synthetic set in DIR (VOC layout) and converts it to DIR/tfrecord.
# Uses $PY.
make_embedded_data() {
  local data="$1" what="$2"
  shift 2
  if [ -f "${data}/tfrecord/dataset_info.json" ]; then
    return 0
  fi
  echo "== generating the ${what} data set in ${data}"
  "$PY" datasets/make_synthetic_voc.py --output_root="${data}" "$@"
  "$PY" datasets/build_voc2012_data.py \
      --voc_root="${data}/VOCdevkit/VOC2012" --output_dir="${data}/tfrecord" \
      --num_shards=2
}
