/** Decoding of the subset of source maps that the TypeScript transpiler emits (one source, VLQ mappings). */

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DIGIT = new Map([...BASE64].map((ch, i) => [ch, i]));

/** A mapping segment: generated column to original line and column, all 0-based. */
interface Segment {
  genColumn: number;
  line: number;
  column: number;
}

/** Parses `mappings` into one sorted segment list per generated line. */
export function decodeMappings(mappings: string): Segment[][] {
  const lines: Segment[][] = [];
  let line = 0;
  let column = 0;
  for (const group of mappings.split(";")) {
    const segments: Segment[] = [];
    let genColumn = 0;
    for (const encoded of group.split(",")) {
      if (encoded === "") continue;
      const fields = decodeVlq(encoded);
      genColumn += fields[0] ?? 0;
      if (fields.length >= 4) {
        line += fields[2] ?? 0;
        column += fields[3] ?? 0;
        segments.push({ genColumn, line, column });
      }
    }
    lines.push(segments);
  }
  return lines;
}

function decodeVlq(encoded: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of encoded) {
    const digit = DIGIT.get(ch);
    if (digit === undefined) throw new Error(`bad source map digit ${ch}`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

/** Maps a 0-based generated position to the original one, using the nearest segment at or before it. */
export function originalPosition(
  lines: Segment[][],
  line: number,
  column: number,
): { line: number; column: number } {
  const segments = lines[line] ?? [];
  let best: Segment | undefined;
  for (const segment of segments) {
    if (segment.genColumn > column) break;
    best = segment;
  }
  if (!best) return { line, column };
  return { line: best.line, column: best.column + (column - best.genColumn) };
}
