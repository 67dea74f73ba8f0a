import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe } from "../errors/index.js";
import type { Daemon } from "./daemon.js";
import type { ApiServer } from "./server.js";

/** Bytes under `dir` (not following symlinks, not crossing into other mounts' contents twice). */
export function diskUsage(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      try {
        const st = lstatSync(p);
        total += st.blocks * 512;
        if (st.isDirectory()) walk(p);
      } catch {
        // gone meanwhile
      }
    }
  };
  walk(dir);
  return total;
}

/** docker's /system/df and the prune endpoints of containers and networks. */
export function registerSystemRoutes(d: Daemon, api: ApiServer): void {
  api.route("GET", "/system/df", async () => {
    const containers = d.containers.list({ all: true });
    const used = new Set(containers.map((c) => c.ImageID));
    const images = await d.images.list();
    const snapshots = d.images.snapshotter;
    return {
      body: {
        LayersSize: images.reduce((n, i) => n + i.size, 0),
        Images: images.map((i) => ({
          Id: i.id,
          RepoTags: i.names,
          Size: i.size,
          SharedSize: -1,
          Containers: containers.filter((c) => c.ImageID === i.id).length,
          Created: i.created ? Math.floor(Date.parse(i.created) / 1000) : 0,
          "berth.InUse": used.has(i.id),
        })),
        Containers: containers.map((c) => {
          const upper = snapshots
            .mounts(`container/${c.Id}`)
            .flatMap((m) => m.options.filter((o) => o.startsWith("upperdir=")))[0];
          return {
            Id: c.Id,
            Names: [c.Name],
            Image: c.Image,
            State: c.State.Status,
            SizeRw: upper ? diskUsage(upper.slice("upperdir=".length)) : 0,
          };
        }),
        Volumes: d.volumes.list().map((v) => {
          const refs = containers.filter((c) => c.VolumeNames?.includes(v.Name)).length;
          return { ...v, UsageData: { Size: diskUsage(v.Mountpoint), RefCount: refs } };
        }),
        BuildCache: [],
      },
    };
  });

  api.route("POST", "/containers/prune", async () => {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of d.containers.list({ all: true })) {
      if (c.State.Running || c.State.Restarting) continue;
      try {
        const upper = d.images.snapshotter
          .mounts(`container/${c.Id}`)
          .flatMap((m) => m.options.filter((o) => o.startsWith("upperdir=")))[0];
        if (upper) reclaimed += diskUsage(upper.slice("upperdir=".length));
        await d.containers.remove(c.Id);
        deleted.push(c.Id);
      } catch (e) {
        d.log(`prune container ${c.Id.slice(0, 12)}: ${describe(e)}`);
      }
    }
    return { body: { ContainersDeleted: deleted, SpaceReclaimed: reclaimed } };
  });

  api.route("POST", "/networks/prune", async () => {
    const deleted: string[] = [];
    // containers that left a network may still be releasing their addresses
    await d.setup.settled();
    for (const n of await d.networks.list()) {
      if (n.name === "bridge") continue;
      if ((await d.networks.attachments(n.name)).length) continue;
      await d.networks.remove(n.id);
      d.events.publish("network", "destroy", n.id, { name: n.name, type: "bridge" });
      deleted.push(n.name);
    }
    return { body: { NetworksDeleted: deleted } };
  });
}
