/** Reading a SASRec baseline run's test report for `eval --sasrec`: what is refused, and the fix each refusal names. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { assertSasrecUsers, sasrecReportFor } from '../../src/train/baseline.js';
import { writeFakeRun } from '../experiments/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

describe('sasrecReportFor', () => {
  const runsDir = tmpDir();
  const sasrec = writeFakeRun({ runsDir, name: 'b-sasrec', seed: 1, stage: 'sasrec', data: 'd1', users: 30, test: { best: { 'hr@10': 0.25 }, final: { 'hr@10': 0.2 } } });
  const policy = writeFakeRun({ runsDir, name: 'b', seed: 1, data: 'd1' });
  const want = { checkpoint: 'final', split: 'test' as const, data: 'd1' };
  const refused = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof UserError && re.test(e.message));

  it('returns the report of that checkpoint on the same data and users', () => {
    const r = sasrecReportFor(sasrec, policy, want);
    assert.deepEqual([r.checkpoint, r.users, r.metrics['hr@10']], ['final', 30, 0.2]);
    assertSasrecUsers(r, sasrec, { users: 30 });
    assertSasrecUsers(r, sasrec, { users: 30, userSample: 'first' }); // a report without userSample: all, or the first N
  });

  it('refuses a folder that is no baseline run, naming the baseline command to run', () => {
    refused(() => sasrecReportFor(policy, policy, want), new RegExp(`not a SASRec baseline run folder.*adagrpo baseline --config ${path.join(policy, 'config.yaml')} --model sasrec`));
    refused(() => sasrecReportFor(path.join(runsDir, 'nope'), policy, want), /not a SASRec baseline run folder/);
  });

  it('refuses a split or checkpoint the baseline did not test, and an unfinished baseline', () => {
    refused(() => sasrecReportFor(sasrec, policy, { ...want, split: 'valid' }), /has no eval\/sasrec-final-valid.json \(it has sasrec-best-test.json, sasrec-final-test.json\).*--split test/);
    refused(() => sasrecReportFor(sasrec, policy, { ...want, checkpoint: 'last' }), /has no eval\/sasrec-last-test.json/);
    const unfinished = writeFakeRun({ runsDir, name: 'u-sasrec', seed: 1, stage: 'sasrec', data: 'd1' });
    assert.ok(!fs.existsSync(path.join(unfinished, 'eval')));
    refused(() => sasrecReportFor(unfinished, policy, want), /no SASRec test report yet.*--resume/);
  });

  it('refuses other data and other users', () => {
    refused(() => sasrecReportFor(sasrec, policy, { ...want, data: 'd2' }), /trained and tested on data hash d1, this run on d2/);
    const r = sasrecReportFor(sasrec, policy, want);
    refused(() => assertSasrecUsers(r, sasrec, { users: 12, userSample: 'spread' }), /tested on 30 test users, this evaluation on 12 test users spread over the split: pass --max-users 30/);
    // As many users, chosen otherwise: not the same users.
    refused(() => assertSasrecUsers(r, sasrec, { users: 30, userSample: 'spread' }), /this evaluation on 30 test users spread over the split: pass --user-sample first/);
  });
});
