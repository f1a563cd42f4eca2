/**
 * A certificate authority and a server certificate for tests, made with `openssl` at test time (no key is
 * committed): the CA goes to the client's `caCerts`, the certificate and key to `Deno.serve`.
 */

import { join } from "node:path";

/** A test CA and a server certificate for some DNS names, in PEM. */
export interface TestTls {
  /** The CA's certificate: what a client trusts. */
  ca: string;
  /** The server's certificate, signed by the CA. */
  cert: string;
  /** The server's private key. */
  key: string;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Makes a CA and a certificate for `names` (DNS names) signed by it, valid for two days. */
export async function makeTestTls(names: string[]): Promise<TestTls> {
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-tls-" });
  try {
    const caArgs = "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2".split(" ");
    await openssl(dir, [
      ...caArgs,
      ...["-subj", "/CN=IronClaw test CA", "-addext", "basicConstraints=critical,CA:TRUE"],
      ...["-addext", "keyUsage=critical,keyCertSign"],
    ]);
    const csrArgs = "req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr".split(" ");
    await openssl(dir, [...csrArgs, "-subj", `/CN=${names[0]}`]);
    const san = names.map((n) => `DNS:${n}`).join(",");
    await Deno.writeTextFile(join(dir, "ext.cnf"), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
    const signArgs = "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2";
    await openssl(dir, [...signArgs.split(" "), "-extfile", "ext.cnf"]);
    const read = (name: string) => Deno.readTextFile(join(dir, name));
    return { ca: await read("ca.pem"), cert: await read("cert.pem"), key: await read("key.pem") };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
