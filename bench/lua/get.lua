-- GET the URL given to wrk as is (e.g. metrics/get-history?run_id=..&metric_key=..).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "GET"
