// SQLite 3, from Debian's libsqlite3-dev (scripts/install-deps.sh installs it). Used by the
// runtime's disk-backed state store only (OrbitRuntime/State/SQLite*.swift).
#pragma once
#include <sqlite3.h>
