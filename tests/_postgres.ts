/**
 * A throwaway PostgreSQL server for tests, from the distribution's packages
 * (`/usr/lib/postgresql/<version>/bin`): a new cluster in a temp folder,
 * listening on a free loopback port, with no password (trust) and no fsync.
 * A test file starts one and makes a database per case.
 */

import { join } from "node:path";
// @ts-types="@types/pg"
import pg from "pg";

/** A running test server. */
export interface TestPostgres {
  /** The URL of its `postgres` database. */
  url: string;
  /** Makes a new, empty database and returns its URL. */
  newDatabase(): Promise<string>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

const ROOT = "/usr/lib/postgresql";

/** The bin folder of the highest installed PostgreSQL, or null. */
function binDir(): string | null {
  let versions: number[];
  try {
    versions = [...Deno.readDirSync(ROOT)].map((e) => Number(e.name)).filter((v) => Number.isInteger(v));
  } catch {
    return null;
  }
  for (const v of versions.sort((a, b) => b - a)) {
    try {
      Deno.statSync(join(ROOT, String(v), "bin", "initdb"));
      return join(ROOT, String(v), "bin");
    } catch { /* a version without the server */ }
  }
  return null;
}

/** Whether the PostgreSQL server's programs are installed. */
export function postgresInstalled(): boolean {
  return binDir() !== null;
}

/** A free loopback TCP port (free when asked: the server takes it a moment later). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Runs one of the server's programs, as the `postgres` user when this process is root (PostgreSQL refuses root). */
async function run(program: string, args: string[]): Promise<void> {
  const asRoot = Deno.uid() === 0;
  const cmd = asRoot ? "runuser" : program;
  const all = asRoot ? ["-u", "postgres", "--", program, ...args] : args;
  const out = await new Deno.Command(cmd, { args: all, stdout: "piped", stderr: "piped", cwd: "/" }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${program} ${args[0] ?? ""} failed: ${text.trim()}`);
  }
}

async function ownedByPostgres(dir: string): Promise<void> {
  if (Deno.uid() !== 0) return;
  const out = await new Deno.Command("id", { args: ["-u", "postgres"], stdout: "piped" }).output();
  const gid = await new Deno.Command("id", { args: ["-g", "postgres"], stdout: "piped" }).output();
  const num = (o: Deno.CommandOutput) => Number(new TextDecoder().decode(o.stdout).trim());
  await Deno.chown(dir, num(out), num(gid));
}

/**
 * Starts a new PostgreSQL server in a temp folder.
 *
 * @returns Its URL, a way to make databases, and `stop`.
 * @throws {Error} When PostgreSQL is not installed or does not start.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  if (!bin) {
    throw new Error(
      `PostgreSQL is not installed (no ${ROOT}/<version>/bin/initdb): apt-get install postgresql`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-pg-" });
  await ownedByPostgres(dir);
  const data = join(dir, "data");
  const port = freePort();
  try {
    await run(join(bin, "initdb"), [
      "-D",
      data,
      "-A",
      "trust",
      "-U",
      "ironclaw",
      "-N",
      "-E",
      "UTF8",
      "--locale=C",
    ]);
    const settings =
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    await run(join(bin, "pg_ctl"), [
      "start",
      "-D",
      data,
      "-w",
      "-t",
      "60",
      "-l",
      join(dir, "log"),
      "-o",
      settings,
    ]);
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  const url = `postgres://ironclaw@127.0.0.1:${port}/postgres`;
  let made = 0;
  return {
    url,
    async newDatabase() {
      const name = `t${++made}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://ironclaw@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      try {
        await run(join(bin, "pg_ctl"), ["stop", "-D", data, "-m", "immediate", "-w"]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}
