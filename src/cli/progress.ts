// Progress on a terminal: one bar per layer with bytes and rate (cli-progress); nothing when
// stderr is not a TTY, so logs and pipes stay clean.
import type { PullProgress } from '../image/pull';

export function progressFor(out: NodeJS.WriteStream): PullProgress | undefined {
  if (!out.isTTY) return undefined;
  // Loaded only on a terminal: the quiet path does not pay for it.
  const { MultiBar, Presets } = require('cli-progress') as typeof import('cli-progress');
  let bars: InstanceType<typeof MultiBar> | null = null;
  let open = 0;
  return {
    layer(index, total, digest, size) {
      bars ??= new MultiBar(
        { stream: out, format: ' layer {layer} {digest} [{bar}] {percentage}% {mib} MiB {rate} MiB/s', barsize: 20, hideCursor: true, clearOnComplete: false },
        Presets.shades_classic,
      );
      const start = Date.now();
      let bytes = 0;
      const payload = () => ({
        layer: `${index + 1}/${total}`,
        digest: digest.slice(7, 19),
        mib: (bytes / 1048576).toFixed(1),
        rate: (bytes / 1048576 / Math.max((Date.now() - start) / 1000, 0.001)).toFixed(1),
      });
      const bar = bars.create(size, 0, payload());
      open++;
      return {
        tick(n) {
          bytes += n;
          bar.update(bytes, payload());
        },
        done() {
          bar.update(size, payload());
          if (--open === 0) {
            bars?.stop();
            bars = null;
          }
        },
      };
    },
  };
}
