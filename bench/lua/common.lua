-- Shared by every wrk script of the bench: per-thread counters (script-specific events), summed over threads in done() and printed as one JSON line:
--   BENCH_JSON {"requests":..,"duration_us":..,"latency_us":{..},"errors":{..},"counters":{..}}
-- Each script does `dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")` first.
API = "/api/2.0/mlflow"
JSON_HEADERS = { ["Content-Type"] = "application/json" }

local threads = {}
counters = {}   -- one table per Lua state (= per wrk thread)

function setup(thread)
  thread:set("tid", #threads)     -- global `tid` (0-based) inside that thread
  table.insert(threads, thread)
end

function count(name, n)
  counters[name] = (counters[name] or 0) + (n or 1)
end

function count_status(status)
  count("status_" .. status)
end

-- No response() hook here: defining one makes wrk hand every answer to Lua, which costs the
-- load generator CPU that the server on the same two cores would otherwise get. wrk's own
-- summary counts non-2xx answers; populate.lua defines its own hook to read run ids.

-- Default request(): the static request of wrk.method/path/headers/body, counted as "sent".
-- Scripts with their own request() call count("sent") too; sent - answered = unanswered at the end.
local static_request
function request()
  count("sent")
  static_request = static_request or wrk.format()
  return static_request
end

function env_number(name, default)
  return tonumber(os.getenv(name) or "") or default
end

local function json_object(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counters") or {}) do total[k] = (total[k] or 0) + v end
  end
  local lat = {}
  for _, p in ipairs({ 50, 90, 99 }) do lat["p" .. p] = latency:percentile(p) end
  lat.mean, lat.max = latency.mean, latency.max
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"latency_us":%s,"errors":%s,"counters":%s}\n',
    summary.requests, summary.duration, json_object(lat),
    json_object({ connect = e.connect, read = e.read, write = e.write, status = e.status, timeout = e.timeout }),
    json_object(total)))
end
