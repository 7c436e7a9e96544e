/** The size of an encoded message as the wire carries it: a string's UTF-8 bytes, or the bytes. */
export function frameSize(frame: string | Uint8Array): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
}

/**
 * One complete, unfragmented server-to-client WebSocket frame (RFC 6455 §5.2: FIN set,
 * no RSV bits, unmasked) holding `payload`: a string as text in UTF-8, bytes as binary.
 */
export function serverFrame(payload: string | Uint8Array, binary: boolean): Buffer {
  const length = frameSize(payload);
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (typeof payload === 'string') frame.write(payload, header, 'utf8');
  else frame.set(payload, header);
  return frame;
}

