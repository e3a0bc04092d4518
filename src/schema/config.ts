// The frontend's configuration: /etc/ward/config.json, overlaid by the user's
// $XDG_CONFIG_HOME/ward/config.json (default ~/.config/ward/config.json). Strict: an unknown
// field is an error naming the file, so a typo never silently weakens a limit.
import { z } from 'zod';

const Positive = z.number().int().positive();

export const ExtractLimitsConfig = z.strictObject({
  maxEntries: Positive.optional(),
  maxBytes: Positive.optional(),
  maxPathLength: Positive.optional(),
  maxDepth: Positive.optional(),
  maxManifestBytes: Positive.optional(),
  maxRatio: Positive.optional(),
});

export const WardConfig = z.strictObject({
  limits: ExtractLimitsConfig.optional(),
});
export type WardConfig = z.infer<typeof WardConfig>;
