// paxlockd: one replica of a paxlock cluster (src/server/daemon.h).
#include "daemon/daemon.h"

int main(int argc, char** argv) {
  return paxlock::daemon::daemon_main(argc, argv);
}
