// The pod-level flags' help and collector, apart from their parsers (volume-args.ts, net-args.ts)
// so that registering ward run's options loads no schema: zod costs every ward run ~40 ms.

/** commander's collector for repeatable flags. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const VOLUME_HELP = 'a pod volume: NAME,kind=host,source=/PATH[,readOnly=true][,recursive=false][,selinuxRelabel=shared|private] (shared = :z, private = :Z; host paths only where the helper policy allows) or NAME,kind=empty[,mode=0755][,uid=N][,gid=N][,readOnly=true]; repeatable';
export const MOUNT_HELP = 'mount a volume into the app: volume=NAME,target=/PATH (default: the image\'s mount point of that name); repeatable';
