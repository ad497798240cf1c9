// ZkLockLoad: closed-loop lock-then-unlock load on a ZooKeeper 3.8 ensemble on
// 127.0.0.1, with Debian's ZooKeeper Java client and the standard lock recipe.
// Compiled and run by bench/compare/run (javac against /usr/share/java/zookeeper.jar).
//
// One thread = one client = one ZooKeeper session, to server number
// client % servers, connected before the clock starts.
//
// Uncontended (default): client c locks /paxbench/c<c>-n<j % locks> (the
// lock nodes are created, untimed, before the run):
//   create(<lock>/lock-, EPHEMERAL_SEQUENTIAL); getChildren(<lock>); if our
//   node is the lowest we hold the lock, else watch the next lower node and
//   wait (never happens here: names are the client's own); delete(our node).
// Two writes (create, delete) and one read served by the connected server.
//
// Contended (--contended): every client picks one of --locks shared names at
// random; try-lock = create + getChildren, and if our node is not the lowest,
// delete it at once and back off exponentially with jitter (200 us doubling
// up to 100 ms, uniform in [b/2, b]), as paxlock bench does. Cycle time
// counts from the first try to the delete's answer, back-offs included.
//
// Prints one JSON object shaped like `paxlock --json bench`. Bounded: the
// run ends at warm-up + duration, and after --max-cycles cycles in total.
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.Stat;

public class ZkLockLoad {
  static String connect = "127.0.0.1:32181";
  static int clients = 1, locks = 100;
  static boolean contended = false;
  static double duration = 10, warmup = 5;
  static long maxCycles = 5_000_000;

  public static void main(String[] args) throws Exception {
    for (int i = 0; i < args.length; i++) {
      String k = args[i];
      if (k.equals("--contended")) {
        contended = true;
        continue;
      }
      if (i + 1 >= args.length) throw new IllegalArgumentException("missing value for " + k);
      String v = args[++i];
      switch (k) {
        case "--connect": connect = v; break;
        case "--clients": clients = Integer.parseInt(v); break;
        case "--locks": locks = Integer.parseInt(v); break;
        case "--duration": duration = Double.parseDouble(v); break;
        case "--warmup": warmup = Double.parseDouble(v); break;
        case "--max-cycles": maxCycles = Long.parseLong(v); break;
        default: throw new IllegalArgumentException("unknown option " + k);
      }
    }
    String[] servers = connect.split(",");
    for (String s : servers) {
      if (!s.startsWith("127.0.0.1:")) throw new IllegalArgumentException("not on 127.0.0.1: " + s);
    }
    if (clients < 1 || clients > 4096 || locks < 1 || duration <= 0 || duration > 3600 || warmup < 0) {
      throw new IllegalArgumentException("bad --clients, --locks, --duration or --warmup");
    }

    ZooKeeper[] zks = new ZooKeeper[clients];
    for (int c = 0; c < clients; c++) {
      CountDownLatch up = new CountDownLatch(1);
      zks[c] = new ZooKeeper(servers[c % servers.length], 30000, e -> {
        if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
      });
      if (!up.await(30, TimeUnit.SECONDS)) throw new RuntimeException("connect timeout, client " + c);
    }
    ensure(zks[0], "/paxbench");
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<Future<?>> fs = new ArrayList<>();
    if (contended) {
      for (int k = 0; k < locks; k++) ensure(zks[0], "/paxbench/shared-" + k);
    } else {
      for (int c = 0; c < clients; c++) {
        final int cc = c;
        fs.add(pool.submit(() -> {
          for (int k = 0; k < locks; k++) ensure(zks[cc], "/paxbench/c" + cc + "-n" + k);
          return null;
        }));
      }
      for (Future<?> f : fs) f.get();
      fs.clear();
    }

    final long t0 = System.nanoTime();
    final long warmEnd = t0 + (long) (warmup * 1e9);
    final long end = warmEnd + (long) (duration * 1e9);
    final int cap = (int) Math.min(maxCycles, 4_000_000);
    final long[][] cyc = new long[clients][];
    final long[][] acq = new long[clients][];
    final int[] n = new int[clients];
    final AtomicLong cycles = new AtomicLong(), retries = new AtomicLong(), errors = new AtomicLong();
    final AtomicReference<String> firstErr = new AtomicReference<>();
    for (int c = 0; c < clients; c++) {
      final int cc = c;
      cyc[c] = new long[Math.max(1024, cap / clients + 1)];
      acq[c] = new long[cyc[c].length];
      fs.add(pool.submit(() -> {
        ZooKeeper zk = zks[cc];
        Random rng = new Random(cc * 7919L + System.nanoTime());
        for (long j = 0; ; j++) {
          long start = System.nanoTime();
          if (start >= end || cycles.get() >= maxCycles) return null;
          try {
            long acquired;
            if (!contended) {
              String dir = "/paxbench/c" + cc + "-n" + (j % locks);
              String me = create(zk, dir);
              waitLowest(zk, dir, me);
              acquired = System.nanoTime();
              zk.delete(me, -1);
            } else {
              String dir = "/paxbench/shared-" + rng.nextInt(locks);
              long backoff = 0;
              while (true) {
                String me = create(zk, dir);
                if (lowest(zk, dir, me) == null) {
                  acquired = System.nanoTime();
                  zk.delete(me, -1);
                  break;
                }
                zk.delete(me, -1);
                if (System.nanoTime() >= end) return null;
                retries.incrementAndGet();
                backoff = Math.min(Math.max(backoff * 2, 200_000L), 100_000_000L);
                long sleep = backoff / 2 + (long) (rng.nextDouble() * (backoff / 2));
                Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
              }
            }
            long done = System.nanoTime();
            if (done >= warmEnd && done < end && n[cc] < cyc[cc].length) {
              cyc[cc][n[cc]] = done - start;
              acq[cc][n[cc]] = acquired - start;
              n[cc]++;
              cycles.incrementAndGet();
            }
          } catch (Exception ex) {
            firstErr.compareAndSet(null, ex.toString());
            if (errors.incrementAndGet() > 1000) return null;
            Thread.sleep(10);
          }
        }
      }));
    }
    for (Future<?> f : fs) f.get();
    double seconds = duration;
    if (cycles.get() >= maxCycles) seconds = (System.nanoTime() - warmEnd) / 1e9;
    pool.shutdown();
    for (ZooKeeper zk : zks) zk.close();

    int total = 0;
    for (int c = 0; c < clients; c++) total += n[c];
    long[] all = new long[total], allAcq = new long[total];
    int p = 0;
    for (int c = 0; c < clients; c++) {
      System.arraycopy(cyc[c], 0, all, p, n[c]);
      System.arraycopy(acq[c], 0, allAcq, p, n[c]);
      p += n[c];
    }
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT,
        "{\"system\": \"zookeeper\", \"clients\": %d, \"locks\": %d, \"contended\": %b, "
            + "\"endpoints\": \"%s\", \"seconds\": %.3f, \"cycles\": %d, \"cycles_per_s\": %.1f, ",
        clients, locks, contended, connect, seconds, total, total / seconds));
    sb.append("\"cycle_ms\": ").append(summary(all)).append(", \"acquire_ms\": ").append(summary(allAcq));
    sb.append(String.format(Locale.ROOT, ", \"retries\": %d, \"errors\": {", retries.get()));
    if (errors.get() > 0) sb.append("\"error\": ").append(errors.get());
    sb.append("}");
    if (firstErr.get() != null) {
      sb.append(", \"first_error\": \"").append(firstErr.get().replaceAll("[\"\\\\\\s]+", "_")).append('"');
    }
    sb.append("}");
    System.out.println(sb);
    System.exit(total > 0 ? 0 : 3);
  }

  static String create(ZooKeeper zk, String dir) throws Exception {
    return zk.create(dir + "/lock-", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE,
        CreateMode.EPHEMERAL_SEQUENTIAL);
  }

  // The node just below ours (null: ours is the lowest, the lock is held).
  static String lowest(ZooKeeper zk, String dir, String me) throws Exception {
    String mine = me.substring(dir.length() + 1);
    List<String> kids = zk.getChildren(dir, false);
    Collections.sort(kids); // one prefix, zero-padded sequence numbers
    int idx = kids.indexOf(mine);
    if (idx < 0) throw new IllegalStateException("own lock node vanished: " + me);
    return idx == 0 ? null : dir + "/" + kids.get(idx - 1);
  }

  // The blocking recipe: wait for the next lower node to go, at most 10 s each.
  static void waitLowest(ZooKeeper zk, String dir, String me) throws Exception {
    for (int tries = 0; tries < 1000; tries++) {
      String below = lowest(zk, dir, me);
      if (below == null) return;
      CountDownLatch gone = new CountDownLatch(1);
      Stat st = zk.exists(below, e -> gone.countDown());
      if (st != null) gone.await(10, TimeUnit.SECONDS);
    }
    throw new RuntimeException("lock wait too long: " + me);
  }

  static String summary(long[] v) {
    Arrays.sort(v);
    if (v.length == 0) return "{\"p50\": 0, \"p90\": 0, \"p99\": 0, \"p999\": 0}";
    double[] ps = {0.5, 0.9, 0.99, 0.999};
    String[] names = {"p50", "p90", "p99", "p999"};
    StringBuilder sb = new StringBuilder("{");
    for (int i = 0; i < ps.length; i++) {
      long x = v[(int) (ps[i] * (v.length - 1))];
      sb.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "\"%s\": %.3f", names[i], x / 1e6));
    }
    return sb.append("}").toString();
  }

  static void ensure(ZooKeeper zk, String path) throws Exception {
    try {
      zk.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
    } catch (KeeperException.NodeExistsException e) {
      // already there
    }
  }
}
