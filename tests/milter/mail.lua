-- tests/milter/mail.lua: drive one SMTP transaction through the milter and
-- print what it answered at each stage, one "stage: reply" line each, plus
-- "eom-action: ..." lines for what it asked the MTA to do at end of
-- message.  check.sh starts it once per case:
--
--   miltertest -s mail.lua -D milter=BIN -D conf=FILE -D sock=SPEC
--       -D msg=FILE -D rcpt=ADDR [-D host=NAME -D ip=ADDR -D qid=ID
--       -D nodata=1 -D abort=1 -D msg2=FILE -D hook=CMD -D rcpts=A,B,...]
--
-- msg is a complete CRLF mail; its headers are sent one by one (folded
-- values kept as received), its body in one chunk.  The transaction stops
-- at the first reply that is not "continue".  With msg2, a second
-- connection to the same filter then sends that mail to the same
-- recipient; its lines are prefixed "next ".  With hook, the shell command
-- CMD runs once the filter accepts connections (its startup checks are
-- done) and before the first transaction.  With rcpts, those recipients
-- follow rcpt (one "rcpt: reply" line each).  With -D running=1 the filter
-- is not started: one the caller started already listens on sock.

local names = {
	[SMFIR_CONTINUE] = "continue", [SMFIR_ACCEPT] = "accept",
	[SMFIR_REJECT] = "reject", [SMFIR_DISCARD] = "discard",
	[SMFIR_TEMPFAIL] = "tempfail", [SMFIR_REPLYCODE] = "replycode",
}

local pfx = ""
local hooked = false

local function say(line)
	print(pfx .. line)
end

local function reply(conn, stage)
	local r = mt.getreply(conn)
	local n = names[r] or ("code-" .. tostring(r))
	say(stage .. ": " .. n)
	return r
end

local function fail(what, err)
	error(pfx .. what .. " failed: " .. tostring(err))
end

-- One SMTP transaction of the mail in file path on a new connection.
local function transaction(path)
	local conn = mt.connect(sock, 100, 0.05)
	if conn == nil then
		error("cannot connect to the filter at " .. sock)
	end
	if hook ~= nil and not hooked then
		hooked = true
		os.execute(hook)
	end

	local f = assert(io.open(path, "rb"))
	local text = f:read("a")
	f:close()
	local hdrpart, body = text:match("^(.-\r\n)\r\n(.*)$")
	if hdrpart == nil then
		error("no header/body separator in " .. path)
	end

	local err = mt.conninfo(conn, host or "mx.sender.example",
	    ip or "192.0.2.25")
	if err ~= nil then fail("conninfo", err) end
	if reply(conn, "connect") ~= SMFIR_CONTINUE then return end
	-- Like Postfix, send HELO and MAIL only if the filter did not ask
	-- the MTA to skip them in option negotiation (SMFIP_NOHELO,
	-- SMFIP_NOMAIL).
	if not mt.test_option(conn, SMFIP_NOHELO) then
		err = mt.helo(conn, "mx.sender.example")
		if err ~= nil then fail("helo", err) end
		if reply(conn, "helo") ~= SMFIR_CONTINUE then return end
	else
		say("helo: skipped")
	end
	mt.macro(conn, SMFIC_MAIL, "i", qid or "4ABCDEF123")
	if not mt.test_option(conn, SMFIP_NOMAIL) then
		err = mt.mailfrom(conn, "<bounce@ca.example>")
		if err ~= nil then fail("mailfrom", err) end
		if reply(conn, "mail") ~= SMFIR_CONTINUE then return end
	else
		say("mail: skipped")
	end
	err = mt.rcptto(conn, "<" .. rcpt .. ">")
	if err ~= nil then fail("rcptto", err) end
	if reply(conn, "rcpt") ~= SMFIR_CONTINUE then return end
	for r in (rcpts or ""):gmatch("[^,]+") do
		err = mt.rcptto(conn, "<" .. r .. ">")
		if err ~= nil then fail("rcptto", err) end
		if reply(conn, "rcpt") ~= SMFIR_CONTINUE then return end
	end
	if nodata == nil then
		err = mt.data(conn)
		if err ~= nil then fail("data", err) end
		if reply(conn, "data") ~= SMFIR_CONTINUE then return end
	end

	-- split the header block into fields (a line starting with white
	-- space continues the previous field); send each value as it
	-- follows the colon
	local fields = {}
	for line in hdrpart:gmatch("(.-)\r\n") do
		if line:match("^[ \t]") and #fields > 0 then
			fields[#fields].value = fields[#fields].value .. "\r\n" ..
			    line
		else
			local name, value = line:match("^([^:]+):(.*)$")
			if name == nil then
				error("bad header line: " .. line)
			end
			fields[#fields + 1] = { name = name, value = value }
		end
	end
	for i, h in ipairs(fields) do
		-- without SMFIP_HDR_LEADSPC an MTA strips the one space
		-- after ':'
		local v = h.value
		if not mt.test_option(conn, SMFIP_HDR_LEADSPC) then
			v = v:gsub("^ ", "")
		end
		err = mt.header(conn, h.name, v)
		if err ~= nil then fail("header", err) end
		if reply(conn, "header") ~= SMFIR_CONTINUE then return end
	end
	err = mt.eoh(conn)
	if err ~= nil then fail("eoh", err) end
	if reply(conn, "eoh") ~= SMFIR_CONTINUE then return end
	if #body > 0 then
		err = mt.bodystring(conn, body)
		if err ~= nil then fail("body", err) end
		if reply(conn, "body") ~= SMFIR_CONTINUE then return end
	end
	if abort ~= nil then
		mt.abort(conn)
		say("aborted")
		mt.disconnect(conn)
		return
	end
	err = mt.eom(conn)
	if err ~= nil then fail("eom", err) end
	reply(conn, "eom")
	if mt.eom_check(conn, MT_HDRADD, "X-ACME-Challenge") then
		say("eom-action: add-header X-ACME-Challenge:" ..
		    tostring(mt.getheader(conn, "X-ACME-Challenge", 0)))
	end
	if mt.eom_check(conn, MT_QUARANTINE) then
		say("eom-action: quarantine")
	end
	if mt.eom_check(conn, MT_SMTPREPLY, "451") then
		say("eom-action: smtp-reply 451")
	end
	mt.disconnect(conn)
end

mt.set_timeout(60)
if running == nil then
	mt.startfilter(milter, "-f", "-v", "-c", conf)
end
transaction(msg)
if msg2 ~= nil then
	pfx = "next "
	transaction(msg2)
end
