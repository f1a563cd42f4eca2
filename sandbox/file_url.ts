/** A file URL for an absolute path, for dynamic imports. */
export function toFileUrl(path: string): string {
  return new URL(`file://${path.split("/").map(encodeURIComponent).join("/")}`).href;
}
