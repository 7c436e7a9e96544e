/** Saves `parts` as a file the browser downloads (the export, scripts for CI). */
export function download(fileName: string, parts: BlobPart[], type: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob(parts, { type }));
  a.download = fileName;
  a.click();
  // Revoked later, not at once: some browsers start reading the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
