/* Schema of ocid.db, as an ordered list of migrations. user_version holds
 * how many have been applied. Rules: never edit, remove or reorder an entry
 * that has been released; add tables and columns by appending an entry (pods
 * and containers will append theirs). Each entry runs in one transaction with
 * foreign keys on.
 *
 * Conventions: digests and ids are text ("sha256:<hex>"), times are integers
 * in nanoseconds since the epoch, sizes are bytes. */
#include "store/migrations.h"

const struct db_migration store_migrations[] = {
	{
		.name = "images and layers",
		.sql =
			/* Unpacked layers, keyed by chain id (OCI image-spec):
			 * chainid(L0) = diffid(L0),
			 * chainid(Ln) = sha256(chainid(Ln-1) + " " + diffid(Ln)).
			 * A layer is on disk at overlay/<hex of id>/diff. State
			 * 'pulling' while being unpacked; only 'ready' layers may be
			 * used by images. A layer's users are the image_layers rows
			 * that name it (no stored counter to drift). */
			"CREATE TABLE layers ("
			"  id TEXT PRIMARY KEY,"
			"  diff_id TEXT NOT NULL,"
			"  parent TEXT," /* chain id of the layer below; NULL for a base layer */
			"  state TEXT NOT NULL CHECK (state IN ('pulling', 'ready')),"
			"  size INTEGER NOT NULL DEFAULT 0," /* uncompressed tar bytes */
			"  disk_bytes INTEGER NOT NULL DEFAULT 0,"
			"  disk_inodes INTEGER NOT NULL DEFAULT 0,"
			"  created INTEGER NOT NULL"
			");"
			"CREATE INDEX layers_diff_id ON layers(diff_id);"
			/* Compressed blobs seen to unpack into a layer. */
			"CREATE TABLE layer_digests ("
			"  digest TEXT NOT NULL,"
			"  layer_id TEXT NOT NULL REFERENCES layers(id) ON DELETE CASCADE,"
			"  size INTEGER NOT NULL,"
			"  PRIMARY KEY (digest, layer_id)"
			");"
			"CREATE INDEX layer_digests_layer ON layer_digests(layer_id);"
			/* Images: id = config digest. config is the config JSON;
			 * config_user its config.User, for ImageStatus uid/username. */
			"CREATE TABLE images ("
			"  id TEXT PRIMARY KEY,"
			"  manifest_digest TEXT NOT NULL,"
			"  config TEXT NOT NULL,"
			"  config_user TEXT NOT NULL DEFAULT '',"
			"  size INTEGER NOT NULL,"
			"  created INTEGER NOT NULL"
			");"
			/* Repo tags ("docker.io/library/busybox:latest"): a name
			 * belongs to one image; tagging another image moves it. */
			"CREATE TABLE image_names ("
			"  name TEXT PRIMARY KEY,"
			"  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE"
			");"
			"CREATE INDEX image_names_image ON image_names(image_id);"
			/* Repo digests ("docker.io/library/busybox@sha256:..."). */
			"CREATE TABLE image_digests ("
			"  name TEXT PRIMARY KEY,"
			"  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE"
			");"
			"CREATE INDEX image_digests_image ON image_digests(image_id);"
			/* An image's layers, base first. A layer named here cannot
			 * be deleted (the foreign key has no ON DELETE action). */
			"CREATE TABLE image_layers ("
			"  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
			"  idx INTEGER NOT NULL,"
			"  layer_id TEXT NOT NULL REFERENCES layers(id),"
			"  PRIMARY KEY (image_id, idx)"
			");"
			"CREATE INDEX image_layers_layer ON image_layers(layer_id);",
	},
	{
		.name = "pod sandboxes",
		.sql =
			/* One row per pod sandbox (src/pod/sandbox_store.c). A row
			 * is written 'creating' before anything is made, so a
			 * crash mid-way can be undone; the netns path and
			 * net_attached (a CNI DEL is owed) are written before CNI
			 * ADD, cni_cache and ips after. config is the packed
			 * runtime.v1.PodSandboxConfig; cgroup the pod cgroup
			 * record (JSON, what ocid created); namespaces a bit mask
			 * of the pins the pod owns (1 net, 2 ipc, 4 uts, 8 pid);
			 * ips comma-separated, primary first. */
			"CREATE TABLE pods ("
			"  id TEXT PRIMARY KEY,"
			"  name TEXT NOT NULL,"
			"  namespace TEXT NOT NULL,"
			"  uid TEXT NOT NULL,"
			"  attempt INTEGER NOT NULL,"
			"  state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'notready')),"
			"  reason TEXT NOT NULL DEFAULT '',"
			"  created_at INTEGER NOT NULL,"
			"  config BLOB NOT NULL,"
			"  runtime_handler TEXT NOT NULL,"
			"  runtime_name TEXT NOT NULL,"
			"  dir TEXT NOT NULL,"
			"  pin_dir TEXT NOT NULL,"
			"  namespaces INTEGER NOT NULL,"
			"  netns TEXT,"
			"  net_attached INTEGER NOT NULL DEFAULT 0,"
			"  cni_cache TEXT,"
			"  ips TEXT NOT NULL DEFAULT '',"
			"  cgroup_path TEXT NOT NULL,"
			"  cgroup TEXT,"
			"  pause_pid INTEGER NOT NULL DEFAULT 0,"
			"  pause_start INTEGER NOT NULL DEFAULT 0,"
			"  UNIQUE (name, namespace, uid, attempt)"
			");",
	},
	{
		.name = "containers",
		.sql =
			/* One row per container (src/ctr/container.h). State
			 * 'creating' while CreateContainer runs: recovery tears
			 * such a container down. config is the CRI
			 * ContainerConfig (protobuf), resources the current
			 * LinuxContainerResources (protobuf, after updates). No
			 * foreign keys: the pod and image may vanish while ocid
			 * is down, and recovery deals with that. */
			"CREATE TABLE containers ("
			"  id TEXT PRIMARY KEY,"
			"  pod_id TEXT NOT NULL,"
			"  name TEXT NOT NULL,"
			"  attempt INTEGER NOT NULL,"
			"  state TEXT NOT NULL CHECK (state IN ('creating', 'created', 'running', 'exited')),"
			"  config BLOB NOT NULL,"
			"  image_id TEXT NOT NULL,"
			"  image_name TEXT NOT NULL,"
			"  runtime TEXT NOT NULL,"
			"  log_path TEXT NOT NULL,"
			"  term_path TEXT NOT NULL DEFAULT '',"
			"  term_fallback INTEGER NOT NULL DEFAULT 0,"
			"  stop_signal INTEGER NOT NULL DEFAULT 0,"
			"  kill_all INTEGER NOT NULL DEFAULT 0,"
			"  uid INTEGER NOT NULL DEFAULT 0,"
			"  gid INTEGER NOT NULL DEFAULT 0,"
			"  groups TEXT NOT NULL DEFAULT '',"
			"  created INTEGER NOT NULL,"
			"  pid INTEGER NOT NULL DEFAULT 0,"
			"  started INTEGER NOT NULL DEFAULT 0,"
			"  finished INTEGER NOT NULL DEFAULT 0,"
			"  exit_code INTEGER NOT NULL DEFAULT 0,"
			"  oom INTEGER NOT NULL DEFAULT 0,"
			"  reason TEXT NOT NULL DEFAULT '',"
			"  message TEXT NOT NULL DEFAULT '',"
			"  resources BLOB"
			");"
			"CREATE INDEX containers_pod ON containers(pod_id);",
	},
};

const size_t store_migrations_count = sizeof(store_migrations) / sizeof(store_migrations[0]);
