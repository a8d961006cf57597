#!/usr/bin/env python3
"""Writes the hand-made seed corpora and dictionaries of the clipzs fuzz targets (fuzz/corpus/<target>/,
fuzz/dict/<target>.dict). Standard library only; the output is committed, rerun after changing it.
Seeds are small valid files plus a few near-valid ones (one field off), so mutations start close to the
accepted formats."""
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import tarfile

ROOT = os.path.dirname(os.path.abspath(__file__))
SEP = b"\n=====\n"  # fuzz_common.hpp kSeparator


def put(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def npy(descr, shape, payload, version=1, fortran=False, extra=""):
    shape_txt = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (descr, fortran, shape_txt, extra)
    lenfmt, pre = ("<H", 10) if version == 1 else ("<I", 12)
    total = pre + len(d) + 1
    d += " " * ((total + 63) // 64 * 64 - total) + "\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(d)) + d.encode() + payload


def write_dict(target, tokens):
    """libFuzzer dictionary: one quoted token a line; only \\, \\" and \\xHH escapes are understood."""
    with open(os.path.join(ROOT, "dict", target + ".dict"), "w") as f:
        for tok in tokens:
            raw = tok if isinstance(tok, bytes) else tok.encode()
            f.write('"' + "".join(chr(c) if 0x20 <= c < 0x7F and c not in (0x22, 0x5C) else "\\x%02x" % c
                                  for c in raw) + '"\n')


def sha(b):
    return hashlib.sha256(b).hexdigest()


def main():
    shutil.rmtree(os.path.join(ROOT, "corpus"), ignore_errors=True)
    os.makedirs(os.path.join(ROOT, "dict"), exist_ok=True)

    # --- npy -----------------------------------------------------------------------------------
    f4 = struct.pack("<6f", 0.5, -1, 2, 3.25, 0, 1e-3)
    put("fuzz_npy", "f4_2x3.npy", npy("<f4", (2, 3), f4))
    put("fuzz_npy", "f2_4.npy", npy("<f2", (4,), struct.pack("<4H", 0x3C00, 0xC000, 0x0001, 0x7C00)))
    put("fuzz_npy", "f8_2.npy", npy("<f8", (2,), struct.pack("<2d", 1.5, -2.0)))
    put("fuzz_npy", "i8_2x2.npy", npy("<i8", (2, 2), struct.pack("<4q", 1, -2, 3, 1 << 40)))
    put("fuzz_npy", "i4_scalar.npy", npy("<i4", (), struct.pack("<i", 7)))
    put("fuzz_npy", "u1_3.npy", npy("|u1", (3,), b"\x00\x7f\xff"))
    put("fuzz_npy", "u1_lt.npy", npy("<u1", (3,), b"\x01\x02\x03"))
    put("fuzz_npy", "b1_2.npy", npy("|b1", (2,), b"\x00\x01"))
    put("fuzz_npy", "i1_2.npy", npy("|i1", (2,), b"\x80\x7f"))
    put("fuzz_npy", "empty_0x5.npy", npy("<f4", (0, 5), b""))
    put("fuzz_npy", "v2_f4.npy", npy("<f4", (1, 4), f4[:16], version=2))
    put("fuzz_npy", "v3_f4.npy", npy("<f4", (4,), f4[:16], version=3))
    put("fuzz_npy", "long_dims.npy", npy("<f4", ("2L", "3L"), f4))
    put("fuzz_npy", "near_truncated.npy", npy("<f4", (2, 3), f4[:20]))
    put("fuzz_npy", "near_fortran.npy", npy("<f4", (2, 3), f4, fortran=True))
    put("fuzz_npy", "near_bigendian.npy", npy(">f4", (2, 3), f4))
    put("fuzz_npy", "near_version9.npy", b"\x93NUMPY\x09\x00" + npy("<f4", (1,), f4[:4])[8:])
    write_dict("fuzz_npy", [b"\x93NUMPY", "'descr'", "'fortran_order'", "'shape'", "True", "False", "<f4", "<f2",
                            "<f8", "<i8", "<i4", "|u1", "<u1", "|b1", "|i1", ">f4", "L", "(", ")", ",",
                            "9223372036854775807", "-1", "4294967296"])

    # --- bundle.json -------------------------------------------------------------------------------
    merges = open(os.path.join(ROOT, "..", "tests", "fixtures", "bundles", "tiny-vit", "tiny_merges.txt"), "rb").read()
    files = {"image_encoder.pt": sha(b"image encoder stand-in\n"),  # what fuzz_bundle_json.cpp writes
             "text_encoder.pt": sha(b"text encoder stand-in\n"),
             "tiny_merges.txt": sha(merges)}
    bundle = {
        "schema_version": 1,
        "model": {"name": "random-vit-tiny", "source": "random", "architecture": "vit", "embed_dim": 32},
        "image": {"file": "image_encoder.pt", "size": 64, "mean": [0.48145466, 0.4578275, 0.40821073],
                  "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic", "resize_mode": "shortest"},
        "text": {"file": "text_encoder.pt", "context_length": 77, "tokenizer": "clip_bpe",
                 "vocab_file": "tiny_merges.txt", "num_merges": 400, "vocab_size": 914, "sot_id": 912,
                 "eot_id": 913, "width": 64},
        "logit_scale": 100.0,
        "files": files,
    }
    put("fuzz_bundle_json", "valid.json", json.dumps(bundle, indent=1))
    b = json.loads(json.dumps(bundle))
    del b["text"]["num_merges"]
    b["image"]["interpolation"], b["image"]["resize_mode"] = "bilinear", "squash"
    put("fuzz_bundle_json", "valid_no_num_merges.json", json.dumps(b))
    b = json.loads(json.dumps(bundle))
    b["text"].update(tokenizer="hf_bpe", vocab_file="vocab.json", merges_file="merges.txt")
    put("fuzz_bundle_json", "near_hf_missing_files.json", json.dumps(b))
    b = json.loads(json.dumps(bundle))
    b["files"]["tiny_merges.txt"] = "0" * 64
    put("fuzz_bundle_json", "near_bad_hash.json", json.dumps(b))
    b = json.loads(json.dumps(bundle))
    b["schema_version"] = 2
    put("fuzz_bundle_json", "near_schema2.json", json.dumps(b))
    b = json.loads(json.dumps(bundle))
    b["image"]["std"] = [0.2, 0, 0.2]
    put("fuzz_bundle_json", "near_std0.json", json.dumps(b))
    b = json.loads(json.dumps(bundle))
    b["text"]["num_merges"] = 5000
    put("fuzz_bundle_json", "near_too_many_merges.json", json.dumps(b))
    json_tokens = ['"schema_version"', '"model"', '"image"', '"text"', '"files"', '"name"', '"embed_dim"', '"file"',
                   '"size"', '"mean"', '"std"', '"interpolation"', '"resize_mode"', '"context_length"',
                   '"tokenizer"', '"vocab_file"', '"merges_file"', '"num_merges"', '"vocab_size"', '"sot_id"',
                   '"eot_id"', '"width"', '"logit_scale"', '"clip_bpe"', '"hf_bpe"', '"bicubic"', '"shortest"',
                   '"source"', '"architecture"', 'true', 'false', 'null', '1e400', '-1', '2147483648',
                   '9223372036854775808', '0.5', '{}', '[]', '"\\u0000"', '"\\ud800"']
    write_dict("fuzz_bundle_json", json_tokens)

    # --- store: manifest.json SEP rows.jsonl SEP embeddings.npy ---------------------------------------
    emb = npy("<f4", (2, 3), f4)
    emb16 = npy("<f2", (2, 3), struct.pack("<6H", *([0x3C00] * 6)))
    rows = (b'{"index":0,"label":"cat","path":"a/cat.png","status":"ok"}\n'
            b'{"index":1,"label":"dog","path":"b/dog.png","status":"error","error":"cannot decode"}\n')
    man = {"format": "clipzs-embedding-store", "format_version": 1, "kind": "images", "rows": 2, "dim": 3,
           "dtype": "float32"}
    put("fuzz_store", "valid_nofiles", json.dumps(man).encode() + SEP + rows + SEP + emb)
    m = dict(man, dtype="float16", files={"embeddings.npy": sha(emb16), "rows.jsonl": sha(rows)})
    put("fuzz_store", "valid_hashed_f16", json.dumps(m).encode() + SEP + rows + SEP + emb16)
    text_rows = b'{"index":0,"label":"cat","status":"ok","prompts":["a photo of a cat."]}\n'
    put("fuzz_store", "valid_text_1row", json.dumps(dict(man, rows=1, kind="texts")).encode() + SEP + text_rows +
        SEP + npy("<f4", (1, 3), f4[:12]))
    put("fuzz_store", "near_row_count", json.dumps(dict(man, rows=3)).encode() + SEP + rows + SEP + emb)
    put("fuzz_store", "near_unterminated_row", json.dumps(man).encode() + SEP + rows[:-1] + SEP + emb)
    put("fuzz_store", "near_no_npy", json.dumps(man).encode() + SEP + rows)
    put("fuzz_store", "near_bad_hash", json.dumps(dict(man, files={"rows.jsonl": "00"})).encode() + SEP + rows + SEP + emb)
    write_dict("fuzz_store", ['"rows"', '"dim"', '"files"', '"dtype"', '"embeddings.npy"', '"rows.jsonl"', '"index"',
                              '"status"', '"label"', '"path"', '"error"', '"prompts"', 'null', 'true', '1e400', '-1',
                              '9223372036854775807', '{}', '[]', SEP, b"\x93NUMPY", "'shape'", "<f4", "<f2"])

    # --- JSONL pairs -------------------------------------------------------------------------------
    put("fuzz_jsonl_pairs", "valid.jsonl", '{"image": "a.jpg", "caption": "a cat"}\n'
        '{"path": "/abs/b.png", "text": "a dog", "key": "k1"}\n{"img": "c.webp", "title": "x", "id": 7}\n')
    put("fuzz_jsonl_pairs", "valid_bom_crlf.jsonl", '\ufeff{"file": "../up/d.jpg", "txt": "caf\\u00e9"}\r\n\r\n')
    put("fuzz_jsonl_pairs", "valid_skips.jsonl", '{"image": "a.jpg", "caption": ""}\n{"image": null, "caption": "x"}\n'
        '{"image": "b.jpg", "caption": "ok", "key": {"n": [1, 2]}}\n')
    put("fuzz_jsonl_pairs", "near_not_object.jsonl", '["a.jpg", "cap"]\n')
    put("fuzz_jsonl_pairs", "near_number_caption.jsonl", '{"image": "a.jpg", "caption": 5}\n')
    put("fuzz_jsonl_pairs", "near_no_caption_key.jsonl", '{"image": "a.jpg"}\n')
    write_dict("fuzz_jsonl_pairs", ['"image"', '"path"', '"filepath"', '"file"', '"img"', '"caption"', '"text"',
                                    '"title"', '"txt"', '"key"', '"id"', 'null', 'true', '1e400', '{}', '[]',
                                    b"\xef\xbb\xbf", "\r\n", '"\\u0000"', '"\\ud800"'])

    # --- CSV / TSV / path lists (first byte: reader) --------------------------------------------------
    put("fuzz_csv_inputs", "0_valid.csv", '0path,label\nimgs/a.jpg,cat\n"imgs/b, c.jpg","dog ""big"""\n/abs/d.png,\n')
    put("fuzz_csv_inputs", "0_multiline.csv", '0\ufeffFilePath,Class\r\n"x\ny.png",bird\r\n\r\nz.png\r\n')
    put("fuzz_csv_inputs", "0_near_no_path.csv", '0name,label\na.jpg,cat\n')
    put("fuzz_csv_inputs", "0_near_unterminated.csv", '0path\n"a.jpg\n')
    put("fuzz_csv_inputs", "1_list.txt", '1# comment\nimgs/a.jpg\tcat\n\n  /abs/b.png  \n../c.png\tdog\tx\n')
    put("fuzz_csv_inputs", "2_pairs.csv", '2image,caption,key\na.jpg,"a cat, sitting",k0\nb.jpg,,k1\n,"no image",\n')
    put("fuzz_csv_inputs", "2_near_no_caption.csv", '2img,label\na.jpg,x\n')
    put("fuzz_csv_inputs", "3_pairs.tsv", '3path\ttext\tid\na.jpg\ta "quoted" cat\t\nb.jpg\tdog\t9\n')
    write_dict("fuzz_csv_inputs", ["path", "filepath", "image", "file", "label", "class", "img", "caption", "text",
                                   "title", "txt", "key", "id", '"', '""', ",", "\t", "\r\n", b"\xef\xbb\xbf", "#",
                                   "../", "/"])

    # --- CoOp split JSON ----------------------------------------------------------------------------
    split = {"train": [["n01/a.jpg", 0, "tench"], ["n02/b.jpg", 1, "goldfish"]],
             "val": [["n01/c.jpg", 0, "tench"]],
             "test": [["n02/d.jpg", 1, "goldfish"], ["n03/e.jpg", 2, "great white shark"]]}
    put("fuzz_coop_split", "valid.json", json.dumps(split))
    put("fuzz_coop_split", "valid_two_fields.json", json.dumps({"test": [["a.jpg", 0], ["b.jpg", 0]],
                                                               "train": [["a.jpg", 0, "x"]]}))
    put("fuzz_coop_split", "near_gap_label.json", json.dumps({"test": [["a.jpg", 0, "a"], ["b.jpg", 2, "c"]]}))
    put("fuzz_coop_split", "near_string_label.json", json.dumps({"test": [["a.jpg", "0", "a"]]}))
    put("fuzz_coop_split", "near_empty.json", json.dumps({"train": [], "val": {}, "test": None}))
    write_dict("fuzz_coop_split", ['"train"', '"val"', '"test"', '[]', '{}', 'null', '-1', '9223372036854775807',
                                   '18446744073709551615', '1e400', '1.5', '"../"'])

    # --- tokenizer text (first byte: short context length) -----------------------------------------
    texts = ["a photo of a dog.", "A Photo of THE cat's toy, isn't it?  It'll be   fine!",
             "caf\u00e9 na\u00efve \ufb01ne \uff21\uff22\uff23 \u201cquoted\u201d",
             "&amp;lt;b&amp;gt; &eacute; &#233; &#x1F600; &notanentity; &amp",
             "<|startoftext|>hello<|endoftext|> <|endoftext|",
             "\u0410\u0411\u0412 \u4e2d\u6587 \u0645\u0631\u062d\u0628\u0627 \U0001F600\U0001F44D\u200d",
             "123 4567.89 \u00bd \u0663", "\u017ft \u0345 e\u0301 \u212b",
             "bad utf8 \xff\xfe \xc3 end"]
    for i, t in enumerate(texts):
        put("fuzz_tokenizer", "text%d" % i, bytes([7 + i * 9]) + t.encode("utf-8", "surrogateescape")
            if "\xff" not in t else bytes([7 + i * 9]) + t.encode("latin-1"))
    write_dict("fuzz_tokenizer", ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
                                  "&amp;", "&lt;", "&#", "&#x", ";", "\u017f", "\u0345", "\uff21", "\u201c",
                                  "\ufb01", "\u0301", "\u00e9", "\U0001F600", "\u200d", b"\xff", b"\xc3"])

    # --- tokenizer vocabularies -----------------------------------------------------------------------
    lines = merges.split(b"\n")
    put("fuzz_tokenizer_vocab", "clip_merges_40.txt", b"\n".join(lines[:41]) + b"\n")
    put("fuzz_tokenizer_vocab", "clip_merges_header_only.txt", lines[0] + b"\n")
    put("fuzz_tokenizer_vocab", "clip_merges_40.txt.gz", gzip.compress(b"\n".join(lines[:41]) + b"\n", mtime=0))
    put("fuzz_tokenizer_vocab", "near_three_symbols.txt", lines[0] + b"\nh o x\n")
    # A Hugging Face pair: the 256 byte symbols (+ "</w>"), two merges and the specials.
    byte_syms = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100)))
    syms, n = [], 0
    for bb in range(256):
        syms.append(chr(bb) if bb in byte_syms else chr(256 + n))
        n += bb not in byte_syms
    vocab = {}
    for s in syms + [s + "</w>" for s in syms] + ["ho", "hot</w>", "<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(s, len(vocab))
    hf_merges = "#version: 0.2\nh o\nho t</w>\n"
    put("fuzz_tokenizer_vocab", "hf_pair", json.dumps(vocab, ensure_ascii=False).encode() + SEP + hf_merges.encode())
    put("fuzz_tokenizer_vocab", "near_hf_unknown_merge", json.dumps(vocab, ensure_ascii=False).encode() + SEP +
        b"#version: 0.2\nq z\n")
    write_dict("fuzz_tokenizer_vocab", ["#version: 0.2", "</w>", "<|startoftext|>", "<|endoftext|>", SEP,
                                        b"\x1f\x8b\x08", "\u0120", "1073741824", "-1"])

    # --- WebDataset tar shards ----------------------------------------------------------------------
    def shard(members, fmt=tarfile.USTAR_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 0
                t.addfile(info, io.BytesIO(data))
        # tarfile pads to 10 KiB records; keep the members and the two zero end-of-archive blocks.
        out = buf.getvalue()
        end = len(out)
        while end >= 512 and not any(out[end - 512:end]):
            end -= 512
        return out[:end] + bytes(1024)
    put("fuzz_tar_shard", "ustar.tar", shard([("00000.jpg", b"\xff\xd8jpeg"), ("00000.txt", b" a cat \n"),
                                              ("00000.json", b'{"k":1}'), ("00001.png", b"\x89PNG"),
                                              ("00002.txt", b"orphan caption")]))
    put("fuzz_tar_shard", "gnu_longname.tar", shard([("d/" + "x" * 120 + ".webp", b"RIFF"),
                                                     ("d/" + "x" * 120 + ".txt", b"long")], tarfile.GNU_FORMAT))
    put("fuzz_tar_shard", "pax.tar", shard([("p/caf\u00e9.jpg", b"img"), ("p/caf\u00e9.txt", b"pax caption")],
                                           tarfile.PAX_FORMAT))
    put("fuzz_tar_shard", "near_truncated.tar", shard([("a.jpg", b"x" * 600), ("a.txt", b"c")])[:1100])
    write_dict("fuzz_tar_shard", [b"ustar\x00", b"ustar  \x00", "././@LongLink", "path=", "size=", ".jpg", ".txt",
                                  ".json", ".png", b"\x80\x00\x00\x00", "00000000000", "0000644", "0000000"])


if __name__ == "__main__":
    main()
