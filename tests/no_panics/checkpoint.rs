//! ferrite-nn: state dicts, checkpoint and safetensors files, atomic writes.

use super::*;

/// A module whose only "parameter" is the result of an op (not assignable).
struct NonLeaf(Var);

impl Module for NonLeaf {
    fn forward(&self, input: &Var) -> Result<Var, TensorError> {
        input.mul(&self.0)
    }
    fn type_name(&self) -> &'static str {
        "NonLeaf"
    }
    fn own_parameters(&self) -> Vec<(String, Var)> {
        vec![("w".to_string(), self.0.clone())]
    }
}

fn two_layer(seed: u64) -> Sequential {
    manual_seed(seed);
    Sequential::new()
        .add_module("fc1", Linear::new(3, 4))
        .add_module("fc2", Linear::new(4, 2))
}

#[test]
fn load_state_dict_refuses_another_model() {
    let mut a = Audit::new("load_state_dict");
    let model = two_layer(0);
    let sd = state_dict(&model);
    manual_seed(1);
    let other = Sequential::<f32>::new()
        .add_module("fc1", Linear::new(3, 5))
        .add_module("fc2", Linear::new(5, 2));
    a.refuses(
        "wrong shapes",
        &["load_state_dict", "fc1.weight", "[5, 3]", "[4, 3]"],
        || load_state_dict(&other, &sd, Strict::Yes),
    );
    a.holds("wrong shapes leave the model untouched", || {
        let before = state_dict(&other);
        let _ = load_state_dict(&other, &sd, Strict::Yes);
        ensure(state_dict(&other) == before, || "partially loaded".into())
    });
    let renamed: StateDict = sd
        .iter()
        .map(|(n, t)| (n.replace("fc", "layer"), t.clone()))
        .collect();
    a.refuses(
        "renamed keys",
        &[
            "load_state_dict",
            "missing keys",
            "fc1.weight",
            "unexpected keys",
            "layer1.weight",
        ],
        || load_state_dict(&model, &renamed, Strict::Yes),
    );
    let mut partial = sd.clone();
    partial.remove("fc2.bias");
    a.refuses("a missing key", &["load_state_dict", "fc2.bias"], || {
        load_state_dict(&model, &partial, Strict::Yes)
    });
    a.refuses(
        "an empty state dict",
        &["load_state_dict", "fc1.weight"],
        || load_state_dict(&model, &StateDict::new(), Strict::Yes),
    );
    a.refuses(
        "Checkpoint::load_into another model names both models",
        &[
            "load_state_dict",
            "saved from",
            "Linear(in_features=3, out_features=4",
            "this model is",
        ],
        || Checkpoint::from_model(&model).load_into(&other, Strict::Yes),
    );
    a.refuses(
        "a model whose parameter is not a leaf",
        &["load_state_dict", "'w'", "mul_scalar", "nothing was loaded"],
        || {
            let model = NonLeaf(Var::parameter(z(&[2])).mul_scalar(2.0).unwrap());
            let mut sd = StateDict::new();
            sd.insert("w", z(&[2]));
            load_state_dict(&model, &sd, Strict::Yes)
        },
    );
    // Sequential names layers by position; `append` after `add_module("1", ..)` reuses "1".
    // As in PyTorch (whose modules are an OrderedDict and whose `append` is
    // `add_module(str(len(self)), module)`), the second layer named "1" replaces the first:
    // the model has one layer, and its state dict holds every one of its parameters.
    manual_seed(2);
    let first = Linear::new(2, 2);
    let second = Linear::new(2, 2);
    let second_weight = second.weight().value();
    let dup = Sequential::<f32>::new()
        .add_module("1", first)
        .append(second);
    a.holds(
        "a model with two layers named '1': the second replaces the first, as in PyTorch",
        || {
            let sd = state_dict(&dup);
            let n = dup.parameters().len();
            ensure(dup.len() == 1 && n == 2 && sd.len() == n, || {
                format!(
                    "{} layers, {n} parameters, state_dict has {} entries (expected 1 layer \
                         with 2 parameters, all in the state dict)",
                    dup.len(),
                    sd.len()
                )
            })?;
            ensure(sd.get("1.weight") == Some(&second_weight), || {
                "layer '1' is not the second layer".into()
            })
        },
    );
    a.holds(
        "a model with two layers named '1': save then load is the identity",
        || {
            let before: Vec<Vec<f32>> = dup
                .parameters()
                .iter()
                .map(|p| p.value().to_vec())
                .collect();
            match load_state_dict(&dup, &state_dict(&dup), Strict::Yes) {
                Err(_) => Ok(()),
                Ok(_) => {
                    let after: Vec<Vec<f32>> = dup
                        .parameters()
                        .iter()
                        .map(|p| p.value().to_vec())
                        .collect();
                    ensure(before == after, || {
                        "load_state_dict(state_dict(model)) silently changed the first layer's \
                     weights to the second's"
                            .into()
                    })
                }
            }
        },
    );
    a.finish();
}

#[test]
fn checkpoint_reader_refuses_garbage() {
    let mut a = Audit::new("Checkpoint::from_bytes / load");
    let model = two_layer(0);
    let good = Checkpoint::from_model(&model).to_bytes().unwrap();
    let read = |b: &[u8]| Checkpoint::<f32>::from_bytes(b, "x.ckpt").map(|c| c.params.len());
    a.refuses("empty", &["x.ckpt", "truncated", "0 bytes"], || read(&[]));
    a.refuses("4 bytes of the magic", &["x.ckpt", "truncated"], || {
        read(b"FERR")
    });
    a.refuses(
        "text",
        &["x.ckpt", "not a ferrite checkpoint", "hello wo"],
        || read(b"hello world, not a checkpoint"),
    );
    a.refuses("a zip archive", &["x.ckpt", "zip"], || {
        read(b"PK\x03\x04 and more bytes here")
    });
    a.refuses("a safetensors file", &["x.ckpt", "safetensors"], || {
        read(&safetensors("{}", &[]))
    });
    a.refuses("version 2", &["x.ckpt", "version 2"], || {
        let mut b = good.clone();
        b[8] = 2;
        read(&b)
    });
    a.refuses(
        "unknown dtype tag",
        &["x.ckpt", "element type", "f16"],
        || {
            let mut b = good.clone();
            b[12..16].copy_from_slice(b"f16\0");
            read(&b)
        },
    );
    a.refuses(
        "payload length u64::MAX",
        &["x.ckpt", "18446744073709551615"],
        || {
            let mut b = good.clone();
            b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
            read(&b)
        },
    );
    a.refuses(
        "truncated by one byte",
        &["x.ckpt", "truncated", "1 missing"],
        || read(&good[..good.len() - 1]),
    );
    a.refuses("header only", &["x.ckpt", "truncated"], || {
        read(&good[..24])
    });
    a.refuses("a trailing byte", &["x.ckpt", "1 unexpected bytes"], || {
        let mut b = good.clone();
        b.push(0);
        read(&b)
    });
    a.refuses("one flipped bit", &["x.ckpt", "checksum"], || {
        let mut b = good.clone();
        b[40] ^= 1;
        read(&b)
    });
    a.refuses(
        "forged: a tensor of shape [2^62, 2^62] (valid checksum)",
        &["x.ckpt", "'w'", "too large"],
        || read(&forged_checkpoint("w", &[1 << 62, 1 << 62], &[])),
    );
    a.refuses(
        "forged: shape [2, 2] with 4 bytes of data",
        &["x.ckpt", "'w'", "16 bytes", "4"],
        || read(&forged_checkpoint("w", &[2, 2], &[0; 4])),
    );
    a.refuses(
        "forged: empty tensor of shape [0, 2^63, 4]",
        &["x.ckpt", "'w'", "9223372036854775808"],
        || read(&forged_checkpoint("w", &[0, 1 << 63, 4], &[])),
    );
    a.refuses(
        "forged: the same parameter name twice",
        &["x.ckpt", "'w'", "twice"],
        || {
            let one = 1.5f32.to_le_bytes();
            read(&forged_checkpoint_of(
                &[("w", &[1], &one), ("w", &[1], &one)],
                &[],
            ))
        },
    );
    a.refuses(
        "forged: a byte after the record (valid checksum)",
        &["x.ckpt", "corrupt payload", "1 unused bytes"],
        || read(&forged_checkpoint_of(&[], &[0])),
    );
    a.refuses(
        "forged: a payload that ends inside the record (valid checksum)",
        &["x.ckpt", "corrupt payload"],
        || read(&sealed_checkpoint(&[0, 5])),
    );
    a.holds("forged: a valid tensor is read back", || {
        let n = read(&forged_checkpoint("w", &[1], &1.5f32.to_le_bytes()))
            .map_err(|e| e.to_string())?;
        ensure(n == 1, || format!("{n} tensors"))
    });
    a.refuses("optimizer_state from garbage", &["optimizer state"], || {
        let c = Checkpoint::<f32> {
            optimizer: Some(vec![0xff; 7]),
            ..Default::default()
        };
        c.optimizer_state::<OptimizerState>()
    });
    a.refuses(
        "optimizer_state with trailing bytes",
        &["optimizer state", "left over"],
        || {
            let mut c = Checkpoint::<f32>::default();
            c.set_optimizer_state(&7u8)?;
            c.optimizer.as_mut().unwrap().push(0);
            c.optimizer_state::<u8>()
        },
    );
    let dir = temp_dir("ckpt");
    a.refuses(
        "load: a missing file",
        &["missing.ckpt", "No such file"],
        || Checkpoint::<f32>::load(dir.join("missing.ckpt")),
    );
    a.refuses("load: a directory", &["ckpt"], || {
        Checkpoint::<f32>::load(&dir)
    });
    a.holds("load of a corrupt file leaves the file untouched", || {
        let path = dir.join("corrupt.ckpt");
        let mut b = good.clone();
        b[30] ^= 0xff;
        std::fs::write(&path, &b).unwrap();
        let result = Checkpoint::<f32>::load(&path);
        let after = std::fs::read(&path).unwrap();
        ensure(result.is_err() && after == b, || {
            "modified or accepted".into()
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn safetensors_reader_refuses_garbage() {
    let mut a = Audit::new("safetensors");
    let read = |b: &[u8]| from_safetensors_bytes::<f32>(b, "m.safetensors").map(|s| s.len());
    let good = to_safetensors_bytes(&state_dict(&two_layer(0))).unwrap();
    a.refuses("empty", &["m.safetensors", "truncated", "0 bytes"], || {
        read(&[])
    });
    a.refuses(
        "header length u64::MAX",
        &["m.safetensors", "18446744073709551615"],
        || read(&u64::MAX.to_le_bytes()),
    );
    a.refuses(
        "header length past the end",
        &["m.safetensors", "truncated", "100"],
        || {
            let mut b = 100u64.to_le_bytes().to_vec();
            b.extend_from_slice(b"{}");
            read(&b)
        },
    );
    a.refuses("a ferrite checkpoint", &["m.safetensors"], || {
        read(&Checkpoint::<f32>::default().to_bytes().unwrap())
    });
    a.refuses("header not JSON", &["m.safetensors", "'{'"], || {
        read(&safetensors("[1, 2]", &[]))
    });
    a.refuses("header broken JSON", &["m.safetensors", "JSON"], || {
        read(&safetensors("{\"a\":", &[]))
    });
    a.refuses("dtype F16", &["m.safetensors", "'w'", "F16"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#,
            &[0; 2],
        ))
    });
    a.refuses("shape [2^62, 2^62]", &["m.safetensors", "'w'", "too large"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}"#,
            &[],
        ))
    });
    a.refuses(
        "shape [0, 2^63, 4] (empty, overflowing)",
        &["m.safetensors", "'w'", "9223372036854775808"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[0,9223372036854775808,4],"data_offsets":[0,0]}}"#,
                &[],
            ))
        },
    );
    a.refuses("negative dim", &["m.safetensors", "'w'"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ))
    });
    a.refuses(
        "offsets past the data",
        &["m.safetensors", "'w'", "[0, 8]", "4 bytes"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 4],
            ))
        },
    );
    a.refuses(
        "offsets reversed",
        &["m.safetensors", "'w'", "[4, 0]"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                &[0; 4],
            ))
        },
    );
    a.refuses(
        "shape [2] with 4 bytes",
        &["m.safetensors", "'w'", "8 bytes", "4"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ))
        },
    );
    a.refuses("overlapping tensors", &["m.safetensors", "overlap"], || {
        read(&safetensors(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ))
    });
    a.refuses("a gap in the data", &["m.safetensors", "0..4"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            &[0; 8],
        ))
    });
    a.refuses("a key twice", &["m.safetensors", "'w'", "twice"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}"#,
            &[0; 8],
        ))
    });
    a.refuses(
        "metadata not strings",
        &["m.safetensors", "__metadata__"],
        || read(&safetensors(r#"{"__metadata__":{"a":1}}"#, &[])),
    );
    a.refuses(
        "I64 value 2^53 + 1 into f64",
        &["m.safetensors", "'n'", "9007199254740993"],
        || {
            from_safetensors_bytes::<f64>(
                &safetensors(
                    r#"{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#,
                    &((1i64 << 53) + 1).to_le_bytes(),
                ),
                "m.safetensors",
            )
        },
    );
    a.refuses("truncated real file", &["m.safetensors"], || {
        read(&good[..good.len() - 3])
    });
    a.refuses(
        "a tensor named __metadata__ cannot be saved",
        &["__metadata__"],
        || {
            let mut sd = StateDict::<f32>::new();
            sd.insert("__metadata__", z(&[1]));
            to_safetensors_bytes(&sd)
        },
    );
    let dir = temp_dir("st");
    a.refuses(
        "load_safetensors: a missing file",
        &["nope.safetensors"],
        || load_safetensors::<f32>(dir.join("nope.safetensors")),
    );
    a.refuses(
        "save_safetensors into a missing directory",
        &["no-such-dir"],
        || {
            save_safetensors(
                &state_dict(&two_layer(0)),
                dir.join("no-such-dir").join("m.safetensors"),
            )
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn writes_are_atomic() {
    let mut a = Audit::new("write_atomic");
    let dir = temp_dir("atomic");
    let path = dir.join("model.ckpt");
    std::fs::write(&path, b"old contents").unwrap();
    a.refuses(
        "a failing writer",
        &["model.ckpt", "writing failed", "disk full"],
        || {
            write_atomic_with(&path, |f| {
                use std::io::Write;
                f.write_all(b"half of the new")?;
                Err(std::io::Error::other("disk full"))
            })
        },
    );
    a.holds(
        "a failing writer leaves the old file and no temporary file",
        || {
            let contents = std::fs::read(&path).unwrap();
            let names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            ensure(
                contents == b"old contents" && names == ["model.ckpt"],
                || {
                    format!(
                        "file now {:?}, directory {names:?}",
                        String::from_utf8_lossy(&contents)
                    )
                },
            )
        },
    );
    a.refuses(
        "a path without a file name",
        &["not a path to a file"],
        || write_atomic("/", b"x"),
    );
    a.refuses(
        "a missing directory",
        &["missing", "temporary file"],
        || write_atomic(dir.join("missing").join("f"), b"x"),
    );
    a.refuses("Checkpoint::save onto a directory", &["model-dir"], || {
        let d = dir.join("model-dir");
        std::fs::create_dir_all(&d).unwrap();
        Checkpoint::from_model(&two_layer(0)).save(&d)
    });
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[path = "../torch_pt/writer.rs"]
mod torch_writer;

/// A `.pt` archive of one float32 tensor `w` viewing storage `0` (`numel` elements, `data`).
fn torch_one(numel: i64, offset: i64, sizes: &[i64], strides: &[i64], data: &[u8]) -> Vec<u8> {
    torch_one_typed("FloatStorage", numel, offset, sizes, strides, data)
}

fn torch_one_typed(
    storage_type: &str,
    numel: i64,
    offset: i64,
    sizes: &[i64],
    strides: &[i64],
    data: &[u8],
) -> Vec<u8> {
    let pickle = torch_writer::state_dict_pickle(&[torch_writer::View {
        name: "w",
        storage_type,
        key: "0",
        numel,
        offset,
        sizes,
        strides,
    }]);
    torch_writer::archive(&pickle, &[("0", data)])
}

/// A `.pt` archive whose data.pkl is `pickle`.
fn torch_pickle(pickle: &[u8]) -> Vec<u8> {
    torch_writer::archive(pickle, &[])
}

#[test]
fn torch_reader_refuses_garbage() {
    use ferrite::nn::checkpoint::from_torch_bytes;
    let mut a = Audit::new("torch .pt");
    let read = |b: &[u8]| from_torch_bytes::<f32>(b, "m.pt").map(|s| s.len());
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let views = std::fs::read(fixtures.join("torch_views.pt")).unwrap();
    let four = torch_writer::f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    a.refuses("empty", &["m.pt", "not a PyTorch .pt file"], || read(&[]));
    a.refuses("a safetensors file", &["m.pt", "load_safetensors"], || {
        read(&to_safetensors_bytes(&state_dict(&two_layer(0))).unwrap())
    });
    a.refuses(
        "a ferrite checkpoint",
        &["m.pt", "Checkpoint::load"],
        || read(&Checkpoint::<f32>::default().to_bytes().unwrap()),
    );
    a.refuses(
        "the legacy format",
        &["m.pt", "legacy format", "torch.save"],
        || read(&std::fs::read(fixtures.join("torch_legacy.pt")).unwrap()),
    );
    a.refuses(
        "os.system by __reduce__",
        &["m.pt", "posix.system", "not allowed"],
        || read(&std::fs::read(fixtures.join("torch_evil.pt")).unwrap()),
    );
    a.refuses(
        "GLOBAL os.system",
        &["m.pt", "os.system", "nothing was executed"],
        || {
            read(&torch_pickle(
                b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
            ))
        },
    );
    a.refuses(
        "STACK_GLOBAL builtins.eval",
        &["m.pt", "builtins.eval"],
        || {
            read(&torch_pickle(
                b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93X\x01\x00\x00\x001\x85R.",
            ))
        },
    );
    a.refuses("INST", &["m.pt", "INST"], || {
        read(&torch_pickle(b"\x80\x02(ios\nsystem\n."))
    });
    a.refuses(
        "a BoolStorage",
        &["m.pt", "torch.BoolStorage", "not supported"],
        || read(&torch_one_typed("BoolStorage", 1, 0, &[1], &[1], &[1])),
    );
    a.refuses(
        "a storage shorter than its view",
        &["m.pt", "'w'", "reaches element 7", "only 4 elements"],
        || read(&torch_one(4, 0, &[2, 4], &[4, 1], &four)),
    );
    a.refuses(
        "an offset past the storage",
        &["m.pt", "'w'", "reaches element 4"],
        || read(&torch_one(4, 4, &[1], &[1], &four)),
    );
    a.refuses(
        "a storage with fewer bytes than its size",
        &["m.pt", "'w'", "5 float32", "16 bytes"],
        || read(&torch_one(5, 0, &[4], &[1], &four)),
    );
    a.refuses(
        "a missing storage",
        &["m.pt", "'w'", "archive/data/0", "not in the archive"],
        || {
            let pickle = torch_writer::state_dict_pickle(&[torch_writer::View {
                name: "w",
                storage_type: "FloatStorage",
                key: "0",
                numel: 1,
                offset: 0,
                sizes: &[1],
                strides: &[1],
            }]);
            read(&torch_pickle(&pickle))
        },
    );
    a.refuses("a shape too large", &["m.pt", "'w'", "too large"], || {
        read(&torch_one(4, 0, &[1 << 62, 4], &[0, 0], &four))
    });
    a.refuses(
        "2^40 elements broadcast from one",
        &["m.pt", "'w'", "elements per byte"],
        || read(&torch_one(4, 0, &[1 << 40], &[0], &four)),
    );
    a.refuses(
        "int64 2^53 + 1 into f64",
        &["m.pt", "'w'", "9007199254740993"],
        || {
            let n = ((1i64 << 53) + 1).to_le_bytes();
            from_torch_bytes::<f64>(&torch_one_typed("LongStorage", 1, 0, &[], &[], &n), "m.pt")
        },
    );
    a.refuses(
        "a compressed data.pkl",
        &["m.pt", "compressed", "method 8"],
        || {
            read(&torch_writer::zip_with_method(
                &[("archive/data.pkl", b".")],
                8,
            ))
        },
    );
    a.refuses("no data.pkl", &["m.pt", "without data.pkl"], || {
        read(&torch_writer::zip(&[("archive/version", b"3\n")]))
    });
    a.refuses("a TorchScript archive", &["m.pt", "TorchScript"], || {
        read(&torch_writer::zip(&[("m/constants.pkl", b".")]))
    });
    a.refuses(
        "a byteorder of neither",
        &["m.pt", "byteorder", "middle"],
        || {
            read(&torch_writer::zip(&[
                ("a/data.pkl", b"}."),
                ("a/byteorder", b"middle"),
            ]))
        },
    );
    a.refuses(
        "a list, not a dict",
        &["m.pt", "list", "not a state dict"],
        || read(&torch_pickle(b"\x80\x02].")),
    );
    a.refuses("a dict in itself", &["m.pt", "appears twice"], || {
        read(&torch_pickle(b"\x80\x02}q\x00X\x01\x00\x00\x00ah\x00s."))
    });
    a.refuses("dicts 100 deep", &["m.pt", "nest more than 64"], || {
        let mut p = b"\x80\x02}".to_vec();
        for _ in 0..100 {
            p.extend_from_slice(b"X\x01\x00\x00\x00a}");
        }
        p.extend(std::iter::repeat_n(b's', 100));
        p.push(b'.');
        read(&torch_pickle(&p))
    });
    a.refuses("a tuple key", &["m.pt", "tuple, not a string"], || {
        read(&torch_pickle(b"\x80\x02})K\x01s."))
    });
    a.refuses("a pickle without STOP", &["m.pt", "no STOP"], || {
        read(&torch_pickle(b"\x80\x02}"))
    });
    a.refuses(
        "a memo entry never stored",
        &["m.pt", "memo entry 7"],
        || read(&torch_pickle(b"\x80\x02h\x07.")),
    );
    a.refuses("a pop below the mark", &["m.pt", "MARK"], || {
        read(&torch_pickle(b"\x80\x02}(0."))
    });
    a.holds("big-endian storages are byte-swapped", || {
        let data: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let pickle = torch_writer::state_dict_pickle(&[torch_writer::View {
            name: "w",
            storage_type: "FloatStorage",
            key: "0",
            numel: 2,
            offset: 0,
            sizes: &[2],
            strides: &[1],
        }]);
        let bytes = torch_writer::zip(&[
            ("a/data.pkl", &pickle),
            ("a/byteorder", b"big"),
            ("a/data/0", &data),
        ]);
        let sd = from_torch_bytes::<f32>(&bytes, "m.pt").map_err(|e| e.to_string())?;
        ensure(sd.get("w").unwrap().to_vec() == [1.5, -2.0], || {
            "wrong values".into()
        })
    });
    a.holds("every truncation of a real file is an error", || {
        for n in 0..views.len() {
            if read(&views[..n]).is_ok() {
                return Err(format!("{n} bytes accepted"));
            }
        }
        Ok(())
    });
    a.holds(
        "every 4-byte field overwritten in the zip records: no panic",
        || {
            // The central directory and end record are the last bytes; the local headers are
            // found through them. Overwrite every aligned and unaligned 4-byte window there.
            let start = views.len().saturating_sub(1400);
            for at in start..views.len() - 3 {
                for value in [u32::MAX, 0, 0x7FFF_FFFF, views.len() as u32 + 1, 30] {
                    let mut b = views.clone();
                    b[at..at + 4].copy_from_slice(&value.to_le_bytes());
                    let _ = read(&b);
                }
            }
            Ok(())
        },
    );
    a.holds("every byte of data.pkl flipped: no panic", || {
        // data.pkl is the first entry of the archive, after its local header.
        for at in 30..views.len().min(1000) {
            let mut b = views.clone();
            b[at] ^= 0xFF;
            let _ = read(&b);
        }
        Ok(())
    });
    a.finish();
}
