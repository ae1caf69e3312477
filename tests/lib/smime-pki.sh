# tests/lib/smime-pki.sh: S/MIME test certificates made with openssl, shared
# by tests/milter/check.sh and tests/e2e/test_attacks.sh.  Sourced; POSIX sh.
# Certificates and keys go to $PKI (NAME.pem, NAME.key); mkloop needs $CA
# (the CA's sender address).
# shellcheck shell=sh

# mkpki NAME ISSUER SAN: NAME.pem/NAME.key signed by ISSUER (self if "");
# SAN is an address (rfc822Name) or an openssl SAN value with a ':'.
# M_SUBJ (default /CN=NAME), M_EKU (emailProtection), M_SERIAL (random).
mkpki() {
	_d=$PKI
	mkdir -p "$_d"
	if [ -z "$2" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout "$_d/$1.key" -out "$_d/$1.pem" -days 2 \
		    -subj "${M_SUBJ:-/CN=$1}" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
		return
	fi
	case $3 in *:*) _san=$3 ;; *) _san=email:$3 ;; esac
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$_d/$1.key" -out "$_d/$1.csr" -subj "/CN=$1" 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
	    "${M_EKU:-emailProtection}" "$_san" >"$_d/$1.ext"
	openssl x509 -req -in "$_d/$1.csr" -CA "$_d/$2.pem" -CAkey "$_d/$2.key" \
	    ${M_SERIAL:+-set_serial "$M_SERIAL"} -CAcreateserial -days 2 \
	    -extfile "$_d/$1.ext" -out "$_d/$1.pem" 2>/dev/null
}
# mkloop: loopa and loopb, two CA certificates that sign each other
# (loopa's key signs loopb, loopb's key signs loopa), and loopsig, an
# S/MIME certificate for the CA address issued by loopa
mkloop() {
	_d=$PKI
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' >"$_d/ca.ext"
	mkpki loopa "" ""
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$_d/loopb.key" -out "$_d/loopb.csr" -subj /CN=loopb 2>/dev/null
	openssl x509 -req -in "$_d/loopb.csr" -CA "$_d/loopa.pem" -CAkey "$_d/loopa.key" \
	    -set_serial 2 -days 2 -extfile "$_d/ca.ext" -out "$_d/loopb.pem" 2>/dev/null
	openssl req -new -key "$_d/loopa.key" -out "$_d/loopa.csr" -subj /CN=loopa 2>/dev/null
	openssl x509 -req -in "$_d/loopa.csr" -CA "$_d/loopb.pem" -CAkey "$_d/loopb.key" \
	    -set_serial 3 -days 2 -extfile "$_d/ca.ext" -out "$_d/loopa.pem" 2>/dev/null
	mkpki loopsig loopa "$CA"
	cat "$_d/loopa.pem" "$_d/loopb.pem" >"$_d/loop-chain.pem"
}
