//! A restricted unpickler for the `data.pkl` of a `torch.save` archive.
//!
//! It builds plain values (numbers, strings, tuples, lists, dicts) and exactly the objects a
//! state dict needs, and executes nothing: a `GLOBAL` outside the allow-list
//! ([`Global::resolve`]) is an error naming it, and so is any opcode that would
//! instantiate an arbitrary class (`INST`, `OBJ`, `NEWOBJ`, ...). Compound values live in an
//! arena and are referenced by index, so a memo entry fetched many times is never copied
//! and the memory used stays proportional to the pickle's length.

use std::collections::HashMap;

/// A pickled value. Compound values are indices into [`Machine::objects`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Obj(usize),
}

/// The element types of the storages that ferrite reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StorageDtype {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
}

impl StorageDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StorageDtype::F64 | StorageDtype::I64 => 8,
            StorageDtype::F32 | StorageDtype::I32 => 4,
            StorageDtype::F16 | StorageDtype::BF16 => 2,
        }
    }

    /// PyTorch's name of the dtype.
    pub fn name(self) -> &'static str {
        match self {
            StorageDtype::F32 => "float32",
            StorageDtype::F64 => "float64",
            StorageDtype::F16 => "float16",
            StorageDtype::BF16 => "bfloat16",
            StorageDtype::I64 => "int64",
            StorageDtype::I32 => "int32",
        }
    }
}

/// The globals a state dict needs: nothing else can be named by a pickle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(StorageDtype),
}

/// The allowed globals, for messages.
const ALLOWED: &str = "collections.OrderedDict, torch._utils._rebuild_tensor_v2, \
                       torch._utils._rebuild_parameter, torch.{Float,Double,Half,BFloat16,Long,Int}Storage";

impl Global {
    /// The allowed global `module.name`, or an error naming it.
    fn resolve(module: &str, name: &str) -> Result<Global, String> {
        let storage = |d| Ok(Global::Storage(d));
        match (module, name) {
            ("collections", "OrderedDict") => Ok(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Ok(Global::RebuildTensorV2),
            ("torch._utils", "_rebuild_parameter") => Ok(Global::RebuildParameter),
            ("torch", "FloatStorage") => storage(StorageDtype::F32),
            ("torch", "DoubleStorage") => storage(StorageDtype::F64),
            ("torch", "HalfStorage") => storage(StorageDtype::F16),
            ("torch", "BFloat16Storage") => storage(StorageDtype::BF16),
            ("torch", "LongStorage") => storage(StorageDtype::I64),
            ("torch", "IntStorage") => storage(StorageDtype::I32),
            ("torch", n) if n.ends_with("Storage") => Err(format!(
                "storage type torch.{n} is not supported: ferrite reads float32, float64, \
                 float16 and bfloat16 tensors (and int64/int32 counters); convert the tensor \
                 (e.g. `.float()`) before saving"
            )),
            _ => Err(format!(
                "the pickle asks for the global {module}.{name}, which is not allowed (nothing \
                 was executed): ferrite reads only state dicts of tensors; allowed globals are \
                 {ALLOWED}"
            )),
        }
    }
}

/// A storage named by a persistent id: `data/<key>` of the archive, `numel` elements.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StorageRef {
    pub dtype: StorageDtype,
    pub key: String,
    pub numel: u64,
}

/// A tensor view of a storage (the arguments of `_rebuild_tensor_v2`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub sizes: Vec<u64>,
    pub strides: Vec<u64>,
}

/// A compound pickled value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Object {
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Object {
    /// The kind of value, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Str(_) => "string",
            Object::Tuple(_) => "tuple",
            Object::List(_) => "list",
            Object::Dict(_) => "dict",
            Object::Global(_) => "global",
            Object::Storage(_) => "storage",
            Object::Tensor(_) => "tensor",
        }
    }
}

/// The unpickler's state.
pub(super) struct Machine<'a> {
    code: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    next_memo: u32,
    pub objects: Vec<Object>,
}

/// The result of one opcode.
enum Step {
    Continue,
    Stop(Value),
}

impl<'a> Machine<'a> {
    /// Runs the pickle `code` to its `STOP`; returns the machine (holding the objects) and
    /// the pickled value. Errors are messages (the caller adds the file's name).
    pub fn run(code: &'a [u8]) -> Result<(Machine<'a>, Value), String> {
        let mut m = Machine {
            code,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            next_memo: 0,
            objects: Vec::new(),
        };
        loop {
            let at = m.pos;
            let op = m.take(1).ok_or("truncated pickle: no STOP opcode")?[0];
            match m.step(op) {
                Ok(Step::Continue) => {}
                Ok(Step::Stop(v)) => return Ok((m, v)),
                Err(e) => return Err(format!("pickle opcode 0x{op:02x} at offset {at}: {e}")),
            }
        }
    }

    /// The object behind `value`, if it is one.
    pub fn object(&self, value: Value) -> Option<&Object> {
        match value {
            Value::Obj(i) => self.objects.get(i),
            _ => None,
        }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.code.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn arg(&mut self, n: usize) -> Result<&'a [u8], String> {
        self.take(n)
            .ok_or_else(|| "truncated pickle: the opcode's argument is cut off".to_string())
    }

    fn arg_u32(&mut self) -> Result<u32, String> {
        let b = self.arg(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.code[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("truncated pickle: a GLOBAL name has no end of line")?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| "a GLOBAL name is not UTF-8".to_string())
    }

    fn push_obj(&mut self, object: Object) {
        self.objects.push(object);
        self.stack.push(Value::Obj(self.objects.len() - 1));
    }

    fn pop(&mut self) -> Result<Value, String> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("the stack is empty above the last MARK".into());
        }
        self.stack.pop().ok_or_else(|| "the stack is empty".into())
    }

    fn top(&self) -> Result<Value, String> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| "the stack is empty".into())
    }

    /// The values above the last MARK, removing them and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or("no MARK on the stack")?;
        if mark > self.stack.len() {
            return Err("the stack is shorter than at its last MARK".into());
        }
        Ok(self.stack.split_off(mark))
    }

    fn memoize(&mut self, index: u32) -> Result<(), String> {
        let value = self.top()?;
        self.memo.insert(index, value);
        Ok(())
    }

    fn memo_get(&mut self, index: u32) -> Result<(), String> {
        let value = *self
            .memo
            .get(&index)
            .ok_or_else(|| format!("memo entry {index} was never stored"))?;
        self.stack.push(value);
        Ok(())
    }

    fn string(&mut self, n: usize) -> Result<(), String> {
        let b = self.arg(n)?;
        let s = std::str::from_utf8(b).map_err(|_| "a string is not valid UTF-8".to_string())?;
        self.push_obj(Object::Str(s.to_string()));
        Ok(())
    }

    fn step(&mut self, op: u8) -> Result<Step, String> {
        match op {
            0x80 => {
                let v = self.arg(1)?[0];
                if v > 5 {
                    return Err(format!("unknown pickle protocol {v}"));
                }
            }
            0x95 => {
                self.arg(8)?; // FRAME: a length hint only
            }
            b'.' => return self.pop().map(Step::Stop),
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => self.stack.push(self.top()?),
            b'q' => {
                let i = self.arg(1)?[0];
                self.memoize(u32::from(i))?;
            }
            b'r' => {
                let i = self.arg_u32()?;
                self.memoize(i)?;
            }
            0x94 => {
                self.memoize(self.next_memo)?;
                self.next_memo = self.next_memo.wrapping_add(1);
            }
            b'h' => {
                let i = self.arg(1)?[0];
                self.memo_get(u32::from(i))?;
            }
            b'j' => {
                let i = self.arg_u32()?;
                self.memo_get(i)?;
            }
            _ => return self.step_value(op),
        }
        Ok(Step::Continue)
    }

    /// Opcodes that push a scalar or a string.
    fn step_value(&mut self, op: u8) -> Result<Step, String> {
        match op {
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'K' => {
                let b = self.arg(1)?[0];
                self.stack.push(Value::Int(i64::from(b)));
            }
            b'M' => {
                let b = self.arg(2)?;
                self.stack
                    .push(Value::Int(i64::from(u16::from_le_bytes([b[0], b[1]]))));
            }
            b'J' => {
                let b = self.arg(4)?;
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                self.stack.push(Value::Int(i64::from(v)));
            }
            0x8a => {
                let n = usize::from(self.arg(1)?[0]);
                let b = self.arg(n)?;
                self.stack.push(Value::Int(long_le(b)?));
            }
            b'G' => {
                let mut a = [0u8; 8];
                a.copy_from_slice(self.arg(8)?);
                self.stack.push(Value::Float(f64::from_be_bytes(a)));
            }
            b'X' => {
                let n = self.arg_u32()? as usize;
                self.string(n)?;
            }
            0x8c => {
                let n = usize::from(self.arg(1)?[0]);
                self.string(n)?;
            }
            0x8d => {
                let mut a = [0u8; 8];
                a.copy_from_slice(self.arg(8)?);
                let n = usize::try_from(u64::from_le_bytes(a)).unwrap_or(usize::MAX);
                self.string(n)?;
            }
            _ => return self.step_compound(op),
        }
        Ok(Step::Continue)
    }

    /// Opcodes that build or fill tuples, lists and dicts.
    fn step_compound(&mut self, op: u8) -> Result<Step, String> {
        match op {
            b')' => self.push_obj(Object::Tuple(Vec::new())),
            b']' => self.push_obj(Object::List(Vec::new())),
            b'}' => self.push_obj(Object::Dict(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.push_obj(Object::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let base = self.marks.last().copied().unwrap_or(0);
                if self.stack.len() < base + n {
                    return Err(format!("TUPLE{n} needs {n} values on the stack"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push_obj(Object::Tuple(items));
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.push_obj(Object::List(items));
            }
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.push_obj(Object::Dict(pairs));
            }
            b'a' => {
                let v = self.pop()?;
                self.extend_list(vec![v])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.extend_dict(vec![(k, v)])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.extend_dict(pairs(items)?)?;
            }
            _ => return self.step_object(op),
        }
        Ok(Step::Continue)
    }

    fn extend_list(&mut self, items: Vec<Value>) -> Result<(), String> {
        let top = self.top()?;
        match top {
            Value::Obj(i) => match &mut self.objects[i] {
                Object::List(list) => {
                    list.extend(items);
                    Ok(())
                }
                other => Err(format!("APPEND(S) on a {}, not a list", other.kind())),
            },
            _ => Err("APPEND(S) on a value that is not a list".into()),
        }
    }

    fn extend_dict(&mut self, items: Vec<(Value, Value)>) -> Result<(), String> {
        let top = self.top()?;
        match top {
            Value::Obj(i) => match &mut self.objects[i] {
                Object::Dict(dict) => {
                    dict.extend(items);
                    Ok(())
                }
                other => Err(format!("SETITEM(S) on a {}, not a dict", other.kind())),
            },
            _ => Err("SETITEM(S) on a value that is not a dict".into()),
        }
    }

    /// Globals, calls, persistent ids and BUILD: the only ways to make non-plain objects.
    fn step_object(&mut self, op: u8) -> Result<Step, String> {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                let global = Global::resolve(module, name)?;
                self.push_obj(Object::Global(global));
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (module, name) = (self.str_of(module)?, self.str_of(name)?);
                let global = Global::resolve(&module, &name)?;
                self.push_obj(Object::Global(global));
            }
            b'Q' => {
                let pid = self.pop()?;
                let storage = self.storage(pid)?;
                self.push_obj(Object::Storage(storage));
            }
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let value = self.reduce(callable, args)?;
                self.stack.push(value);
            }
            b'b' => {
                // BUILD sets attributes; torch uses it only for the state dict's `_metadata`
                // (versions of each module's layout), which ferrite does not need.
                self.pop()?;
                match self.object(self.top()?) {
                    Some(Object::Dict(_)) => {}
                    other => {
                        let kind = other.map_or("scalar", Object::kind);
                        return Err(format!(
                            "BUILD on a {kind} (ferrite accepts it on dicts only)"
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "unsupported opcode{} (a state dict saved by torch.save uses none)",
                    opcode_name(op).map(|n| format!(" {n}")).unwrap_or_default()
                ));
            }
        }
        Ok(Step::Continue)
    }

    fn str_of(&self, value: Value) -> Result<String, String> {
        match self.object(value) {
            Some(Object::Str(s)) => Ok(s.clone()),
            _ => Err("expected a string".into()),
        }
    }

    fn tuple_of(&self, value: Value, what: &str) -> Result<&[Value], String> {
        match self.object(value) {
            Some(Object::Tuple(items)) => Ok(items),
            Some(other) => Err(format!("{what} is a {}, not a tuple", other.kind())),
            None => Err(format!("{what} is a scalar, not a tuple")),
        }
    }

    /// A persistent id `('storage', storage_type, key, location, numel)`.
    fn storage(&self, pid: Value) -> Result<StorageRef, String> {
        let items = self.tuple_of(pid, "a persistent id")?;
        let [tag, ty, key, _location, numel] = items else {
            return Err(format!(
                "a persistent id has {} fields, expected 5 ('storage', type, key, location, \
                 numel)",
                items.len()
            ));
        };
        if self.str_of(*tag).ok().as_deref() != Some("storage") {
            return Err("a persistent id is not a ('storage', ...) tuple".into());
        }
        let Some(Object::Global(Global::Storage(dtype))) = self.object(*ty) else {
            return Err("a persistent id's storage type is not a torch.*Storage".into());
        };
        let key = self
            .str_of(*key)
            .map_err(|_| "a storage key is not a string")?;
        let numel = match numel {
            Value::Int(n) if *n >= 0 => *n as u64,
            _ => {
                return Err(format!(
                    "storage '{key}': its size is not a non-negative integer"
                ));
            }
        };
        Ok(StorageRef {
            dtype: *dtype,
            key,
            numel,
        })
    }

    /// Calls one of the allowed globals.
    fn reduce(&mut self, callable: Value, args: Value) -> Result<Value, String> {
        let Some(Object::Global(global)) = self.object(callable) else {
            return Err("REDUCE on something that is not an allowed global".into());
        };
        let global = *global;
        let args = self.tuple_of(args, "REDUCE's argument")?.to_vec();
        match global {
            Global::OrderedDict if args.is_empty() => {
                self.objects.push(Object::Dict(Vec::new()));
                Ok(Value::Obj(self.objects.len() - 1))
            }
            Global::OrderedDict => Err("OrderedDict(...) with arguments is not supported".into()),
            Global::RebuildTensorV2 => {
                let tensor = self.rebuild_tensor(&args)?;
                self.objects.push(Object::Tensor(tensor));
                Ok(Value::Obj(self.objects.len() - 1))
            }
            Global::RebuildParameter => match (args.first(), args.len()) {
                (Some(&data), 3) if matches!(self.object(data), Some(Object::Tensor(_))) => {
                    Ok(data)
                }
                _ => Err("_rebuild_parameter expects (tensor, requires_grad, hooks)".into()),
            },
            Global::Storage(d) => Err(format!(
                "calling the storage type of {} is not supported",
                d.name()
            )),
        }
    }

    /// `_rebuild_tensor_v2(storage, offset, sizes, strides, requires_grad, hooks[, metadata])`.
    fn rebuild_tensor(&self, args: &[Value]) -> Result<TensorRef, String> {
        if !(6..=7).contains(&args.len()) {
            return Err(format!(
                "_rebuild_tensor_v2 expects 6 or 7 arguments, found {}",
                args.len()
            ));
        }
        let Some(Object::Storage(storage)) = self.object(args[0]) else {
            return Err("_rebuild_tensor_v2's first argument is not a storage".into());
        };
        let offset = match args[1] {
            Value::Int(n) if n >= 0 => n as u64,
            _ => {
                return Err(
                    "_rebuild_tensor_v2: the storage offset is not a non-negative integer".into(),
                );
            }
        };
        let sizes = self.ints(args[2], "sizes")?;
        let strides = self.ints(args[3], "strides")?;
        if sizes.len() != strides.len() {
            return Err(format!(
                "_rebuild_tensor_v2: {} sizes but {} strides",
                sizes.len(),
                strides.len()
            ));
        }
        Ok(TensorRef {
            storage: storage.clone(),
            offset,
            sizes,
            strides,
        })
    }

    fn ints(&self, value: Value, what: &str) -> Result<Vec<u64>, String> {
        let items = self.tuple_of(value, &format!("_rebuild_tensor_v2's {what}"))?;
        items
            .iter()
            .map(|v| match v {
                Value::Int(n) if *n >= 0 => Ok(*n as u64),
                _ => Err(format!(
                    "_rebuild_tensor_v2: the {what} are not non-negative integers"
                )),
            })
            .collect()
    }
}

/// Pairs up the values of a `SETITEMS` or `DICT`.
fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err(format!("{} values for key/value pairs", items.len()));
    }
    Ok(items.chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

/// A little-endian two's-complement integer (`LONG1`) that fits in an `i64`.
fn long_le(bytes: &[u8]) -> Result<i64, String> {
    if bytes.is_empty() {
        return Ok(0);
    }
    if bytes.len() > 8 {
        let sign = if bytes[bytes.len() - 1] & 0x80 != 0 {
            0xFF
        } else {
            0
        };
        let fits = bytes[8..].iter().all(|&b| b == sign) && (bytes[7] & 0x80 == sign & 0x80);
        if !fits {
            return Err(format!(
                "an integer of {} bytes does not fit in 64 bits",
                bytes.len()
            ));
        }
    }
    let negative = bytes[bytes.len().min(8) - 1] & 0x80 != 0;
    let mut a = if negative { [0xFF; 8] } else { [0; 8] };
    let n = bytes.len().min(8);
    a[..n].copy_from_slice(&bytes[..n]);
    Ok(i64::from_le_bytes(a))
}

/// Names of the opcodes refused on purpose, for messages.
fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82..=0x84 => "EXT",
        b'P' => "PERSID",
        b'S' | b'T' | b'U' => "STRING",
        b'B' | b'C' | 0x8e => "BINBYTES",
        b'I' | b'L' | b'F' => "text number",
        b'g' | b'p' => "text memo",
        0x8b => "LONG4",
        0x8f..=0x91 => "set",
        0x96..=0x98 => "buffer",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long1_sign_and_width() {
        assert_eq!(long_le(&[]), Ok(0));
        assert_eq!(long_le(&[0xFF]), Ok(-1));
        assert_eq!(long_le(&[0x00, 0x01]), Ok(256));
        assert_eq!(
            long_le(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]),
            Ok(i64::MAX)
        );
        assert!(long_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0x00]).is_err());
        assert!(long_le(&[0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn disallowed_global_is_named_and_nothing_runs() {
        let code = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00echo\x85R.";
        let err = Machine::run(code).err().unwrap();
        assert!(err.contains("os.system"), "{err}");
        let code = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        let err = Machine::run(code).err().unwrap();
        assert!(err.contains("builtins.eval"), "{err}");
    }

    #[test]
    fn plain_values_and_memo() {
        let code = b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x07X\x01\x00\x00\x00bh\x00u.";
        let (m, v) = Machine::run(code).unwrap();
        let Some(Object::Dict(d)) = m.object(v) else {
            panic!("not a dict")
        };
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].1, Value::Int(7));
        assert_eq!(d[1].1, v, "the memo refers to the same dict");
    }
}
