#!/usr/bin/python3
"""smtp-inject.py: a sendmail(1) stand-in that submits over SMTP.

Used by the test world's DIR/bin/sendmail when it is not run as root
(Postfix allows another configuration directory only for root).

    smtp-inject.py --port PORT [--host 127.0.0.1] -- [sendmail options] [--] RCPT...

Understood sendmail options: -i, -oi, -f SENDER / -fSENDER, -t (recipients
from To/Cc/Bcc), -F NAME, -N DSN, -B TYPE, -o* and -v (accepted, ignored).
Exit status as sendmail: 0 sent, 64 usage, 69 rejected, 75 try again.
"""

import email.parser
import email.utils
import smtplib
import sys

EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL = 64, 69, 75


def die(code, msg):
    sys.stderr.write("sendmail (test world): %s\n" % msg)
    sys.exit(code)


def main(argv):
    host, port = "127.0.0.1", None
    while argv and argv[0] != "--":
        if argv[0] == "--port" and len(argv) > 1:
            port = int(argv[1])
            argv = argv[2:]
        elif argv[0] == "--host" and len(argv) > 1:
            host = argv[1]
            argv = argv[2:]
        else:
            die(EX_USAGE, "bad wrapper argument %r" % argv[0])
    if port is None:
        die(EX_USAGE, "no --port")
    argv = argv[1:]

    sender, from_headers, rcpts = None, False, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rcpts.extend(argv[i + 1:])
            break
        if not a.startswith("-") or a == "-":
            rcpts.append(a)
        elif a.startswith("-f"):
            if len(a) > 2:
                sender = a[2:]
            else:
                i += 1
                if i >= len(argv):
                    die(EX_USAGE, "-f needs an argument")
                sender = argv[i]
        elif a in ("-F", "-N", "-B", "-R", "-V", "-r", "-C", "-O"):
            i += 1  # option with a separate argument; ignored
        elif a == "-t":
            from_headers = True
        elif a in ("-i", "-oi", "-v", "-U") or a.startswith(("-o", "-N", "-F", "-B", "-R")):
            pass
        else:
            die(EX_USAGE, "unsupported option %s" % a)
        i += 1

    data = sys.stdin.buffer.read()
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if from_headers:
        msg = email.parser.BytesParser().parsebytes(data, headersonly=True)
        for h in ("To", "Cc", "Bcc"):
            for _, addr in email.utils.getaddresses(msg.get_all(h, [])):
                if addr:
                    rcpts.append(addr)
    if not rcpts:
        die(EX_USAGE, "no recipients")
    if sender is None:
        import pwd, os
        sender = pwd.getpwuid(os.getuid()).pw_name
    try:
        with smtplib.SMTP(host, port, timeout=30) as s:
            refused = s.sendmail(sender, rcpts, data)
    except smtplib.SMTPRecipientsRefused as e:
        die(EX_UNAVAILABLE, "recipients refused: %r" % (e.recipients,))
    except smtplib.SMTPResponseException as e:
        code = EX_TEMPFAIL if 400 <= e.smtp_code < 500 else EX_UNAVAILABLE
        die(code, "%d %s" % (e.smtp_code, e.smtp_error.decode("utf-8", "replace")))
    except (OSError, smtplib.SMTPException) as e:
        die(EX_TEMPFAIL, str(e))
    if refused:
        die(EX_UNAVAILABLE, "some recipients refused: %r" % (refused,))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
