"""The benchmark's table: each figure, then the ratios beside their targets."""

# (name, numerator, denominator, target, 'max' | 'min'): the ratio must stay at
# or under (max) / at or over (min) the target.
RATIOS = (
    ('binary / compiled supervised step', 'binary_sup_step_s', 'sup_step_s',
     1.1, 'max'),
    ('binary / compiled PseudoSeg step', 'binary_pseudoseg_step_s',
     'pseudoseg_step_s', 1.1, 'max'),
    ('supervised step / Model Garden step', 'sup_step_s', 'model_garden_step_s',
     1.0, 'max'),
    ('PseudoSeg step / supervised step', 'pseudoseg_step_s', 'sup_step_s', 2.5,
     'max'),
    ('input / model images/s', 'input_images_per_s', 'model_images_per_s', 3.0,
     'min'),
    ('evaluation / bare model images/s', 'eval_images_per_s',
     'bare_model_images_per_s', 0.8, 'min'),
    ('training / matmul GFLOP/s', 'train_gflops', 'matmul_gflops', 0.5, 'min'),
)

FIGURES = (
    ('sup_step_s', 'compiled supervised step, s'),
    ('model_garden_step_s', 'Model Garden train_step, s'),
    ('pseudoseg_step_s', 'compiled PseudoSeg step, s'),
    ('binary_sup_step_s', 'train_sup.py steady step, s'),
    ('binary_pseudoseg_step_s', 'train_wss.py steady step, s'),
    ('input_images_per_s', 'input pipeline, images/s'),
    ('model_images_per_s', 'PseudoSeg step, images/s'),
    ('eval_images_per_s', 'evaluation, images/s'),
    ('bare_model_images_per_s', 'bare model, images/s'),
    ('sup_step_gflop', 'supervised step, GFLOP (3 x counted forward)'),
    ('train_gflops', 'supervised training, GFLOP/s'),
    ('matmul_gflops', 'matmul peak, GFLOP/s'),
)


def ratios(results):
  """[(name, value, target, kind, ok)] for the ratios whose figures exist."""
  out = []
  for name, num, den, target, kind in RATIOS:
    if num in results and den in results and results[den]:
      value = results[num] / results[den]
      ok = value <= target if kind == 'max' else value >= target
      out.append((name, value, target, kind, ok))
  return out


def table(results):
  """Markdown: the figures, the peak memory, the ratios and their targets."""
  m = results.get('machine', {})
  lines = ['%s, %s cores (%s), TensorFlow %s, %s; %s, batch %d, crop %s, %s%s' % (
      m.get('processor', '?'), m.get('cpu_count', '?'),
      ' '.join(m.get('cpu_extensions', [])) or 'no AVX2',
      m.get('tensorflow', '?'), m.get('date', '?'), results.get('backbone'),
      results.get('batch_size', 0),
      'x'.join(str(x) for x in results.get('crop_size', [])),
      results.get('mixed_precision'), ', quick' if results.get('quick') else ''),
           '', '| figure | median |', '|---|---|']
  for key, label in FIGURES:
    if key in results:
      lines.append('| %s | %.4g |' % (label, results[key]))
  for script, mb in sorted(results.get('peak_rss_mb', {}).items()):
    lines.append('| %s peak memory, MB | %.0f |' % (script, mb))
  lines += ['', '| ratio | value | target | met |', '|---|---|---|---|']
  for name, value, target, kind, ok in ratios(results):
    lines.append('| %s | %.2f | %s %.2f | %s |' % (
        name, value, '<=' if kind == 'max' else '>=', target,
        'yes' if ok else 'no'))
  return '\n'.join(lines)
