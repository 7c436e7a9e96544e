/**
 * A message written in pieces, one after another (Transport.write): bytes, or strings that
 * stand for bytes as latin1 (one byte a character).
 */
export type Pieces = readonly (string | Uint8Array)[];

/** The size of an encoded message as the wire carries it: a string's UTF-8 bytes, or the bytes (of every piece). */
export function frameSize(frame: string | Uint8Array | Pieces): number {
  if (typeof frame === 'string') return Buffer.byteLength(frame);
  if (!Array.isArray(frame)) return (frame as Uint8Array).byteLength;
  let size = 0;
  for (const piece of frame as Pieces) size += typeof piece === 'string' ? piece.length : piece.byteLength;
  return size;
}

/** The pieces as one Buffer. */
export function joinPieces(pieces: Pieces): Buffer {
  return Buffer.concat(pieces.map((piece) => (typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece)));
}

/** The head of an unfragmented, unmasked server frame of `length` bytes (RFC 6455 §5.2), in `frame` at 0; returns its size. */
export function writeFrameHead(frame: Buffer, length: number, binary: boolean): number {
  frame[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (length < 126) {
    frame[1] = length;
    return 2;
  }
  if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
    return 4;
  }
  frame[1] = 127;
  frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  frame.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/** The head alone, as latin1 text, for a frame whose payload is written after it in pieces. */
export function frameHeadText(length: number, binary: boolean): string {
  const first = String.fromCharCode(0x80 | (binary ? 0x2 : 0x1));
  if (length < 126) return first + String.fromCharCode(length);
  if (length < 65536) return first + String.fromCharCode(126, length >>> 8, length & 0xff);
  const high = Math.floor(length / 2 ** 32);
  const bytes = [127, high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff];
  return first + String.fromCharCode(...bytes);
}

/**
 * One complete, unfragmented server-to-client WebSocket frame (RFC 6455 §5.2: FIN set,
 * no RSV bits, unmasked) holding `payload`: a string as text in UTF-8, bytes as binary.
 */
export function serverFrame(payload: string | Uint8Array, binary: boolean): Buffer {
  const length = frameSize(payload);
  const frame = Buffer.allocUnsafe((length < 126 ? 2 : length < 65536 ? 4 : 10) + length);
  const header = writeFrameHead(frame, length, binary);
  if (typeof payload === 'string') frame.write(payload, header, 'utf8');
  else frame.set(payload, header);
  return frame;
}

