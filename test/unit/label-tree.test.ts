// Labelling a tree as root: every entry through an fd, symlinks as links, targets untouched,
// nothing followed, other filesystems not entered, the root last.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { labelTree, treeIsLabelled } from '../../src/helper/label-tree';
import { lgetfilecon } from '../../src/native/selinux';

const RO = 'system_u:object_r:container_ro_file_t:s0';

test('every entry is labelled, symlinks as links; what they point to, inside or outside, is not followed', async () => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-lt-'));
  try {
    const tree = path.join(top, 'tree');
    const outside = path.join(top, 'outside');
    fs.mkdirSync(path.join(tree, 'a', 'b'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 's');
    fs.writeFileSync(path.join(tree, 'a', 'b', 'file'), 'x');
    fs.symlinkSync(path.join(outside, 'secret'), path.join(tree, 'abs-file-link'));
    fs.symlinkSync(outside, path.join(tree, 'abs-dir-link'));
    fs.symlinkSync('../..', path.join(tree, 'a', 'b', 'up'));
    fs.symlinkSync('dangling', path.join(tree, 'dangling-link'));
    spawnSync('mkfifo', [path.join(tree, 'fifo')]);
    const fd = fs.openSync(tree, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const res = await labelTree(fd, RO, { batch: 2 });
    fs.closeSync(fd);
    const inside = ['.', 'a', 'a/b', 'a/b/file', 'a/b/up', 'abs-file-link', 'abs-dir-link', 'dangling-link', 'fifo'];
    for (const p of inside) assert.equal(lgetfilecon(path.join(tree, p)), RO, p);
    assert.ok(res.entries >= inside.length);
    for (const p of [outside, path.join(outside, 'secret'), top]) assert.equal(lgetfilecon(p), null, p);
    assert.ok(treeIsLabelled(tree, RO));
  } finally {
    fs.rmSync(top, { recursive: true, force: true });
  }
});

test('a dry run checks every entry and labels none; a refusal stops the walk', async () => {
  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-lt-'));
  try {
    fs.mkdirSync(path.join(tree, 'd'));
    fs.writeFileSync(path.join(tree, 'd', 'bad'), '');
    const fd = fs.openSync(tree, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const seen: string[] = [];
    const dry = await labelTree(fd, RO, { dryRun: true, check: (_s, where) => seen.push(where) });
    assert.deepEqual(seen.sort(), ['.', 'd', 'd/bad']);
    assert.equal(dry.entries, 3);
    assert.equal(lgetfilecon(tree), null);
    await assert.rejects(labelTree(fd, RO, { check: (_s, where) => { if (where === 'd/bad') throw new Error('refused d/bad'); } }), /refused d\/bad/);
    assert.equal(lgetfilecon(tree), null, 'the root is labelled last, so an interrupted walk is redone');
    fs.closeSync(fd);
  } finally {
    fs.rmSync(tree, { recursive: true, force: true });
  }
});
