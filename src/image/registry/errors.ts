// Every failure of the registry client is one line: the image, the request (method and URL),
// the cause, and what the user can do about it. Text that comes from the server (error
// messages, header values) is hostile: control characters are dropped and its length is bounded,
// so a registry can neither forge extra lines on the user's terminal nor flood it.
import { ImageSourceError } from '../source';

export type RegistryErrorCode = ImageSourceError['code'];

/** Where a failure happened: the image being fetched and the request in flight. */
export interface Site {
  image: string;
  method?: string;
  url?: URL;
}

/** Server-supplied text made safe to print on one line. */
export function clean(text: string, max = 200): string {
  const one = text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/**
 * A URL as shown to the user: without userinfo, and without the query, which for blob storage
 * redirects often carries a signed access token.
 */
export function showUrl(url: URL): string {
  const q = url.search ? '?…' : '';
  return clean(`${url.protocol}//${url.host}${url.pathname}${q}`, 300);
}

export function fail(site: Site, code: RegistryErrorCode, cause: string, remedy?: string): ImageSourceError {
  const where = site.url ? `${site.method ?? 'GET'} ${showUrl(site.url)}: ` : '';
  return new ImageSourceError(code, `${site.image}: ${where}${cause}${remedy ? `; ${remedy}` : ''}`);
}

export const REMEDY = {
  hostile: 'the registry is broken or hostile',
  http: 'pass --insecure-options=http to use plain http',
  tls: 'pass --insecure-options=tls to skip certificate verification',
  network: 'check the registry address and the network, then try again',
  later: 'try again later',
} as const;
