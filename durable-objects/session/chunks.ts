/**
 * File contents, stored once: a chunk is written when a file is, never changed, and referenced by
 * the live files (`file_chunks`) and by snapshots (`snapshot_file_chunks`), so a snapshot or a
 * restore copies references, not bytes. A chunk no reference names any more is deleted.
 */

/** Stores one chunk; answers its id. The caller holds the transaction. */
export function storeChunk(sql: SqlStorage, data: ArrayBuffer | Uint8Array): number {
  return sql.exec<{ id: number }>("INSERT INTO chunks (data) VALUES (?) RETURNING id", data).one()
    .id;
}

/** Deletes every chunk that neither the live files nor a snapshot reference. */
export function collectChunks(sql: SqlStorage): void {
  sql.exec(
    `DELETE FROM chunks WHERE NOT EXISTS (SELECT 1 FROM file_chunks f WHERE f.chunk = chunks.id)
       AND NOT EXISTS (SELECT 1 FROM snapshot_file_chunks s WHERE s.chunk = chunks.id)`,
  );
}
