#pragma once
/// @file
/// The umbrella header: everything public in procactor.

#include "procactor/actor.hpp"
#include "procactor/connection.hpp"
#include "procactor/errc.hpp"
#include "procactor/exit_reason.hpp"
#include "procactor/exit_status.hpp"
#include "procactor/gc.hpp"
#include "procactor/log.hpp"
#include "procactor/mailbox_stats.hpp"
#include "procactor/pipe.hpp"
#include "procactor/pool.hpp"
#include "procactor/process.hpp"
#include "procactor/queue.hpp"
#include "procactor/spawn.hpp"
#include "procactor/supervisor.hpp"
