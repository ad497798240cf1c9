// paxlockd: one replica of a paxlock cluster (src/server/daemon.h).
#include "server/daemon.h"

int main(int argc, char** argv) {
  return paxlock::server::daemon_main(argc, argv);
}
