/**
 * Containers as the Docker Engine API models them (its field names, so the Docker API is a
 * thin translation): what a create request says (`ContainerConfig` + `HostConfig`), and what
 * berthd records and `inspect` shows.
 */

/** Docker's `Config` (the part of a create request that travels with an image). */
export interface ContainerConfig {
  Image: string;
  Hostname?: string;
  Domainname?: string;
  /** "user", "uid", "user:group", "uid:gid" */
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** seconds */
  StopTimeout?: number;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
  NetworkDisabled?: boolean;
}

export interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}

export interface RestartPolicy {
  Name: "" | "no" | "always" | "unless-stopped" | "on-failure";
  MaximumRetryCount?: number;
}

/** Docker's `Mount` (`--mount`): bind, volume or tmpfs. */
export interface MountSpec {
  Type: "bind" | "volume" | "tmpfs";
  /** host path (bind) or volume name (volume; empty = anonymous) */
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string };
  /** `volume-nocopy`: the image's files at Target are not copied into a new (empty) volume */
  VolumeOptions?: { NoCopy?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** Docker's `LogConfig`: the logging driver ("json-file" or "none") and its options. */
export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/** Docker's `HostConfig`: how this host runs the container. */
export interface HostConfig {
  /** "host:container[:ro|rw]" or "volume:container[:ro]" */
  Binds?: string[];
  Mounts?: MountSpec[];
  /** container path -> options ("size=64m,mode=1777") */
  Tmpfs?: Record<string, string>;
  /** "none", "host", "bridge" (the default network), or a user network's name */
  NetworkMode?: string;
  /** "80/tcp" -> bindings */
  PortBindings?: Record<string, PortBinding[]>;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  CapAdd?: string[];
  CapDrop?: string[];
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  /** "seccomp=unconfined", "seccomp=<profile JSON>" (the CLI reads a file into JSON), "no-new-privileges[:true]" */
  SecurityOpt?: string[];
  /** run an init (tini) as pid 1 */
  Init?: boolean;
  ExtraHosts?: string[];
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  Sysctls?: Record<string, string>;
  Ulimits?: Ulimit[];
  Devices?: DeviceMapping[];
  GroupAdd?: string[];
  OomScoreAdj?: number;
  ShmSize?: number;
  /** "host" shares the host's pid namespace; "container:<id>" another's */
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  /** the OCI runtime by name (`--runtime`) */
  Runtime?: string;
  /** `--log-driver` and `--log-opt`; berthd stores it normalized (see log-config.ts) */
  LogConfig?: LogConfig;
  // resources (docker's names and units)
  Memory?: number;
  MemoryReservation?: number;
  /** memory + swap; -1 = unlimited swap */
  MemorySwap?: number;
  MemorySwappiness?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number;
  BlkioWeight?: number;
  OomKillDisable?: boolean;
  CgroupParent?: string;
}

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

/** Docker's `State`. */
export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

/** The files berthd writes for a container and bind-mounts into it. */
export interface ContainerFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

/** Docker's `PortMap`: "80/tcp" -> the host addresses and ports it is published on. */
export type PortMap = Record<string, PortBinding[]>;
