// Runs the official @daytonaio/sdk against daytonafake: create (labels, env, language), executeCommand (exit
// codes, env, cwd), the Go engine's sandbox read back, delete, then get -> 404. Reads {prefix, apiUrl, apiKey,
// goSandboxId} on stdin and prints {version, checks:[{name, ok, detail}], fatal}.
const path = require('path');

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const sdkDir = path.join(input.prefix, 'node_modules', '@daytonaio', 'sdk');
  const { Daytona } = require(sdkDir);
  const version = require(path.join(sdkDir, 'package.json')).version;
  const out = { version, checks: [] };
  const check = (name, ok, detail) => out.checks.push({ name, ok: !!ok, detail: String(detail ?? '') });
  try {
    const daytona = new Daytona({ apiKey: input.apiKey, apiUrl: input.apiUrl });
    const sb = await daytona.create(
      { language: 'typescript', envVars: { FROM_SDK: 'sdk-env' }, labels: { ekairos: '1', contract: 'yes' } },
      { timeout: 30 },
    );
    check('create started', sb.state === 'started', sb.state);
    check('create labels', sb.labels.contract === 'yes' && sb.labels['code-toolbox-language'] === 'typescript', JSON.stringify(sb.labels));

    let r = await sb.process.executeCommand('echo hello');
    check('execute echo', r.exitCode === 0 && r.result === 'hello\n', JSON.stringify(r));
    r = await sb.process.executeCommand("sh -c 'echo out; exit 3'");
    check('execute exit code', r.exitCode === 3 && r.result === 'out\n', JSON.stringify(r));
    await sb.process.executeCommand('mkdir -p sub');
    r = await sb.process.executeCommand("sh -c 'printf %s:%s: \"$FROM_SDK\" \"$REQ\"; pwd'", 'sub', { REQ: 'req-env' });
    check('execute env and cwd', r.exitCode === 0 && r.result.startsWith('sdk-env:req-env:') && r.result.trim().endsWith('/home/daytona/sub'), JSON.stringify(r));

    const byLabel = [];
    for await (const s of daytona.list({ labels: { contract: 'yes' } })) byLabel.push(s.id);
    check('list by label', byLabel.length === 1 && byLabel[0] === sb.id, JSON.stringify(byLabel));
    const paged = [];
    for await (const s of daytona.list({ labels: { ekairos: '1' }, limit: 1 })) paged.push(s.id);
    check('list follows cursors', paged.length === 2 && paged.includes(sb.id) && paged.includes(input.goSandboxId), JSON.stringify(paged));

    if (input.goSandboxId) {
      const goSb = await daytona.get(input.goSandboxId);
      check('reads the Go engine sandbox', goSb.labels.ekairos === '1' && goSb.labels.ekairos_sandbox_id === input.goRecordId,
        JSON.stringify(goSb.labels));
      r = await goSb.process.executeCommand('echo from-sdk');
      check('executes in the Go engine sandbox', r.exitCode === 0 && r.result === 'from-sdk\n', JSON.stringify(r));
    }

    await daytona.delete(sb, 30);
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      try {
        await daytona.get(sb.id);
        await new Promise((res) => setTimeout(res, 50));
      } catch (e) {
        gone = /not found/i.test(String(e.message)) || e.statusCode === 404;
        if (!gone) throw e;
      }
    }
    check('delete then 404', gone, sb.id);
  } catch (e) {
    out.fatal = String(e && e.stack ? e.stack : e);
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}
main();
