import { TraceMap, traceSegment } from "@jridgewell/trace-mapping";

/** A 0-based line and column. */
interface Position {
  line: number;
  column: number;
}

/**
 * Maps a 0-based position in the JavaScript the TypeScript transpiler made back to the TypeScript,
 * through the nearest mapping at or before it on its line: a position inside a token keeps its
 * offset from the token's start. Where the line has no mapping, the position is its own (the
 * transpiler keeps lines where they were).
 */
export function originalPosition(mappings: string, line: number, column: number): Position {
  const map = new TraceMap({ version: 3, sources: ["user.ts"], names: [], mappings });
  const segment = traceSegment(map, line, column);
  if (segment === null || segment.length === 1) return { line, column };
  const [generatedColumn, , sourceLine, sourceColumn] = segment;
  return { line: sourceLine, column: sourceColumn + (column - generatedColumn) };
}
