// ward image <subcommand>: the group; each subcommand lives in its own file.
import type { Command } from 'commander';
import { register as catManifest } from './image-cat-manifest';
import { register as exportCmd } from './image-export';
import { register as extract } from './image-extract';
import { register as gc } from './image-gc';
import { register as list } from './image-list';
import { register as rm } from './image-rm';
import { register as verify } from './image-verify';

export function register(program: Command): void {
  const image = program.command('image').description('manage images in the store');
  for (const sub of [list, rm, exportCmd, extract, catManifest, gc, verify]) sub(image);
}
