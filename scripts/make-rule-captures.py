#!/usr/bin/env python3
"""Writes the small captures the shipped rules' tests replay (rules/captures/), byte for byte
reproducibly. Run it after changing it; the files are committed.

refused-storm.pcap: 40 connection attempts from 203.0.113.9 to 198.51.100.2, 100 ms apart, each
SYN answered by the local host's RST+ACK (nothing listening): a refused-connection storm.

internal-connect-scan.pcap, internal-syn-scan.pcap: 192.168.1.50 scanning ports 1-200 of
192.168.1.10 (the local host), 2 ms apart, as nmap -sT and -sS do: closed ports answer RST+ACK;
the open ones (22, 80) answer SYN+ACK, which the connect scan completes and resets and the SYN
scan resets at once. Lateral movement: the external-scan rules ignore home_networks."""
import pathlib
import struct

root = pathlib.Path(__file__).resolve().parent.parent


def ipv4(source, destination, payload):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, 6, 0,
                         bytes(source), bytes(destination))
    return header + payload


def tcp(source_port, destination_port, flags, sequence, ack):
    return struct.pack("!HHIIBBHHH", source_port, destination_port, sequence, ack, 0x50, flags, 65535, 0, 0)


def ethernet(packet):
    return bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]) + packet


def pcap(frames):
    out = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    for nanoseconds, frame in frames:
        out += struct.pack("<IIII", nanoseconds // 10**9, nanoseconds % 10**9, len(frame), len(frame)) + frame
    return out


remote, local = [203, 0, 113, 9], [198, 51, 100, 2]
start = 1_700_000_000 * 10**9
frames = []
for index in range(40):
    at = start + index * 100_000_000
    port, service = 50000 + index, 1000 + index
    frames.append((at, ethernet(ipv4(remote, local, tcp(port, service, 0x02, 7000 + index, 0)))))
    frames.append((at + 50_000, ethernet(ipv4(local, remote, tcp(service, port, 0x14, 0, 7001 + index)))))
(root / "rules/captures/refused-storm.pcap").write_bytes(pcap(frames))
print("rules/captures/refused-storm.pcap:", len(frames), "packets")

scanner, target = [192, 168, 1, 50], [192, 168, 1, 10]
for name, completes in [("internal-connect-scan.pcap", True), ("internal-syn-scan.pcap", False)]:
    frames = []
    for index, service in enumerate(range(1, 201)):
        at = start + index * 2_000_000
        port, sequence = 40000 + index, 9000 + index * 10
        frames.append((at, ethernet(ipv4(scanner, target, tcp(port, service, 0x02, sequence, 0)))))
        if service not in (22, 80):
            frames.append((at + 40_000, ethernet(ipv4(target, scanner, tcp(service, port, 0x14, 0, sequence + 1)))))
            continue
        frames.append((at + 40_000, ethernet(ipv4(target, scanner, tcp(service, port, 0x12, 500, sequence + 1)))))
        if completes:
            frames.append((at + 80_000, ethernet(ipv4(scanner, target, tcp(port, service, 0x10, sequence + 1, 501)))))
            frames.append((at + 120_000, ethernet(ipv4(scanner, target, tcp(port, service, 0x14, sequence + 1, 501)))))
        else:
            frames.append((at + 80_000, ethernet(ipv4(scanner, target, tcp(port, service, 0x04, sequence + 1, 0)))))
    (root / "rules/captures" / name).write_bytes(pcap(frames))
    print(f"rules/captures/{name}:", len(frames), "packets")
