import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { postgresInstalled, startPostgres, type TestPostgres } from "../../tests/_postgres.ts";
import type { IronclawError } from "../../manifests/errors.ts";
import { MIGRATIONS } from "./migrations.ts";
import { openStore } from "./mod.ts";
import { PostgresRunStore, redactUrl } from "./postgres.ts";
import { POSTGRES_MIGRATIONS } from "./postgres_migrations.ts";
import { newRun, storeSuite } from "./store_suite.ts";

// In CI the PostgreSQL tests must run: a missing server fails them there rather than skipping them.
const ignore = !postgresInstalled() && !Deno.env.get("CI");
if (ignore) {
  console.warn("PostgreSQL is not installed (apt-get install postgresql): its store tests are ignored");
}

async function rows(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

Deno.test({ name: "PostgresRunStore", ignore }, async (t) => {
  const server: TestPostgres = await startPostgres();
  try {
    await t.step("passes the store suite", (t) =>
      storeSuite(t, {
        async fresh() {
          const url = await server.newDatabase();
          return { open: () => openStore("", { url }), remove: () => Promise.resolve() };
        },
      }));

    await t.step(
      "has the SQLite store's migrations, applied once when many open a new database at once",
      async () => {
        assert.deepEqual(
          POSTGRES_MIGRATIONS.map((m) => [m.version, m.name]),
          MIGRATIONS.map((m) => [m.version, m.name]),
        );
        const url = await server.newDatabase();
        const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresRunStore.open(url)));
        for (const s of stores) await s.close();
        await (await PostgresRunStore.open(url)).close();
        const applied = await rows(url, "SELECT version, name FROM schema_migrations ORDER BY version");
        assert.deepEqual(applied.map((r) => [r.version, r.name]), MIGRATIONS.map((m) => [m.version, m.name]));
      },
    );

    await t.step("keeps BIGINT times as numbers, and a queued run's wait", async () => {
      const store = await openStore("", { url: await server.newDatabase() });
      try {
        await store.enqueueRun(newRun("t1"));
        await new Promise((r) => setTimeout(r, 30));
        const claimed = await store.claimRun({ owner: { pid: 1, host: "", startMark: "" }, leaseMs: 60000 });
        assert.equal(typeof claimed?.queuedMs, "number");
        assert.ok(claimed!.queuedMs >= 20 && claimed!.queuedMs < 60000, String(claimed!.queuedMs));
      } finally {
        await store.close();
      }
    });
  } finally {
    await server.stop();
  }
});

Deno.test("an unreachable PostgreSQL server is ERR_STORE, with the URL shown without its password", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // a closed port: the connection is refused
  const url = `postgres://worker:s3cret-pw@127.0.0.1:${port}/runs`;
  await assert.rejects(() => openStore("", { url }), (e: IronclawError) => {
    assert.equal(e.code, "ERR_STORE");
    assert.ok(!e.message.includes("s3cret-pw"), e.message);
    assert.match(e.message, new RegExp(`postgres://worker@127\\.0\\.0\\.1:${port}/runs`));
    assert.match(e.hint, /\[store\] url/);
    assert.match(e.hint, /PGPASSWORD/);
    return true;
  });
  assert.equal(redactUrl("postgres://u:p@h/d?password=q&x=1"), "postgres://u@h/d?x=1");
});
