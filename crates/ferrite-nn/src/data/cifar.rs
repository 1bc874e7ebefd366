//! CIFAR-10 in its binary format.

use std::path::Path;

use super::DataError;
use super::loader::Dataset;
use super::mnist::Split;

/// One record: the label byte, then 32 × 32 red, green and blue bytes.
const RECORD: usize = 1 + IMAGE;
const IMAGE: usize = 3 * 32 * 32;

/// The CIFAR-10 images (32 × 32 colour, ten classes) from the "binary version" files,
/// as a [`Dataset`] of `[3, 32, 32]` features `pixel / 255` in `[0, 1]` (torchvision's
/// `ToTensor`; add a per-channel [`transforms::Normalize`](super::transforms::Normalize)
/// through the loader for normalised inputs).
///
/// A file is a sequence of 3,073-byte records: one label byte (0–9), then the 1,024 red,
/// 1,024 green and 1,024 blue bytes of the image, rows top to bottom. The training split
/// is `data_batch_1.bin` to `data_batch_5.bin` (50,000 images), the test split
/// `test_batch.bin` (10,000); `batches.meta.txt`, when present, names the classes one per
/// line (otherwise [`Cifar10::CLASSES`]). No checksum is checked: the binary files' own
/// published checksum is that of the `.tar.gz` archive.
///
/// ```
/// use ferrite_nn::data::{Cifar10, Dataset};
/// let mut record = vec![3u8]; // a cat
/// record.extend(std::iter::repeat(255u8).take(3072));
/// let data = Cifar10::from_bytes(&record, "one.bin")?;
/// assert_eq!((data.len(), data.classes()[3].as_str()), (1, "cat"));
/// let sample = data.get(0)?;
/// assert_eq!((sample.features.shape(), sample.label), (&[3, 32, 32][..], 3));
/// assert_eq!(sample.features.to_vec()[0], 1.0);
/// # Ok::<(), ferrite_nn::data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cifar10 {
    /// The records' images, one after the other.
    pixels: Vec<u8>,
    labels: Vec<u8>,
    classes: Vec<String>,
}

impl Cifar10 {
    /// The class names of CIFAR-10, in label order.
    ///
    /// ```
    /// use ferrite_nn::data::Cifar10;
    /// assert_eq!(Cifar10::CLASSES[0], "airplane");
    /// ```
    pub const CLASSES: [&'static str; 10] = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];

    /// The records of one batch file's bytes; `name` is used in messages.
    ///
    /// # Errors
    /// [`DataError::Format`] naming `name` when the length is not a whole number of
    /// 3,073-byte records or a label is not 0–9.
    ///
    /// ```
    /// use ferrite_nn::data::Cifar10;
    /// let err = Cifar10::from_bytes(&[0; 3000], "short.bin").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "short.bin: expected whole 3073-byte records (1 label byte + 3072 pixel bytes), \
    ///      found 3000 bytes (0 records and 3000 bytes over)"
    /// );
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self, DataError> {
        let mut data = Cifar10 {
            pixels: Vec::new(),
            labels: Vec::new(),
            classes: Self::CLASSES.map(String::from).to_vec(),
        };
        data.append(bytes, name)?;
        Ok(data)
    }

    fn append(&mut self, bytes: &[u8], name: &str) -> Result<(), DataError> {
        if !bytes.len().is_multiple_of(RECORD) {
            return Err(DataError::format(
                name,
                format!(
                    "expected whole {RECORD}-byte records (1 label byte + {IMAGE} pixel bytes), \
                     found {} bytes ({} records and {} bytes over)",
                    bytes.len(),
                    bytes.len() / RECORD,
                    bytes.len() % RECORD
                ),
            ));
        }
        let records = bytes.chunks_exact(RECORD);
        if let Some((i, r)) = records.clone().enumerate().find(|(_, r)| r[0] >= 10) {
            return Err(DataError::format(
                name,
                format!(
                    "record {i}: expected a label 0 to 9, found {} (is this CIFAR-100?)",
                    r[0]
                ),
            ));
        }
        self.pixels.reserve(bytes.len() / RECORD * IMAGE);
        for record in records {
            self.labels.push(record[0]);
            self.pixels.extend_from_slice(&record[1..]);
        }
        Ok(())
    }

    /// The split's files of a directory holding the binary version (`data_batch_1.bin` ...
    /// `data_batch_5.bin` for [`Split::Train`], `test_batch.bin` for [`Split::Test`]),
    /// with class names from `batches.meta.txt` when it is there.
    ///
    /// # Errors
    /// [`DataError::Missing`] when a file is absent, [`DataError::Io`] when one cannot be
    /// read, [`DataError::Format`] (naming the file) when one is malformed or
    /// `batches.meta.txt` does not hold ten names.
    ///
    /// ```
    /// use ferrite_nn::data::{Cifar10, Split};
    /// let dir = std::env::temp_dir().join("ferrite-cifar-doc");
    /// std::fs::create_dir_all(&dir)?;
    /// std::fs::write(dir.join("test_batch.bin"), [vec![9u8], vec![0u8; 3072]].concat())?;
    /// let test = Cifar10::from_dir(&dir, Split::Test)?;
    /// assert_eq!((test.len(), test.labels()), (1, &[9u8][..]));
    /// let err = Cifar10::from_dir(&dir, Split::Train).unwrap_err().to_string();
    /// assert!(err.ends_with("no CIFAR-10 training batch found (looked for data_batch_1.bin)"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>, split: Split) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        let names: Vec<String> = match split {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".to_string()],
        };
        let mut data = Cifar10::from_bytes(&[], "")?;
        for name in names {
            let path = dir.join(&name);
            if !path.is_file() {
                return Err(DataError::Missing {
                    dir: dir.to_path_buf(),
                    what: match split {
                        Split::Train => "CIFAR-10 training batch",
                        Split::Test => "CIFAR-10 test batch",
                    },
                    looked_for: vec![name],
                });
            }
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            data.append(&bytes, &path.display().to_string())?;
        }
        let meta = dir.join("batches.meta.txt");
        if meta.is_file() {
            let text = std::fs::read_to_string(&meta).map_err(|e| DataError::io(&meta, e))?;
            let names: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            if names.len() != 10 {
                return Err(DataError::format(
                    meta.display().to_string(),
                    format!("expected 10 class names, one a line, found {}", names.len()),
                ));
            }
            data.classes = names;
        }
        Ok(data)
    }

    /// The number of images.
    ///
    /// ```
    /// use ferrite_nn::data::Cifar10;
    /// assert_eq!(Cifar10::from_bytes(&[], "empty")?.len(), 0);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    ///
    /// ```
    /// use ferrite_nn::data::Cifar10;
    /// assert!(Cifar10::from_bytes(&[], "empty")?.is_empty());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The label of every image.
    ///
    /// ```
    /// use ferrite_nn::data::Cifar10;
    /// let d = Cifar10::from_bytes(&[[7u8].as_slice(), &[0; 3072]].concat(), "a.bin")?;
    /// assert_eq!(d.labels(), &[7]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The 3,072 bytes of image `index` (red plane, green plane, blue plane), or `None`.
    ///
    /// ```
    /// use ferrite_nn::data::Cifar10;
    /// let d = Cifar10::from_bytes(&[[7u8].as_slice(), &[5; 3072]].concat(), "a.bin")?;
    /// assert_eq!(d.image(0).map(|p| p[0]), Some(5));
    /// assert!(d.image(1).is_none());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        (index < self.len()).then(|| &self.pixels[index * IMAGE..(index + 1) * IMAGE])
    }

    /// The class names, in label order.
    ///
    /// ```
    /// use ferrite_nn::data::Cifar10;
    /// assert_eq!(Cifar10::from_bytes(&[], "empty")?.classes()[9], "truck");
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn classes(&self) -> &[String] {
        &self.classes
    }
}

impl Dataset for Cifar10 {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn sample_shape(&self) -> Vec<usize> {
        vec![3, 32, 32]
    }

    fn get_into(&self, index: usize, out: &mut [f32]) -> Result<usize, DataError> {
        const OP: &str = "Cifar10::get_into";
        let image = self.image(index).ok_or_else(|| {
            DataError::invalid(
                OP,
                format!("index {index} is out of range for {} samples", self.len()),
            )
        })?;
        if out.len() != IMAGE {
            return Err(DataError::invalid(
                OP,
                format!(
                    "the output holds {} values but a sample has {IMAGE} (3x32x32)",
                    out.len()
                ),
            ));
        }
        for (o, &p) in out.iter_mut().zip(image) {
            *o = f32::from(p) / 255.0;
        }
        Ok(usize::from(self.labels[index]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::temp_dir;
    use crate::data::{DataLoader, Dataset};

    /// `n` records: label `i % 10`, every pixel of channel `c` = `(i + c) % 256`.
    fn records(n: usize, first: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in first..first + n {
            out.push((i % 10) as u8);
            for c in 0..3 {
                out.extend(std::iter::repeat_n(((i + c) % 256) as u8, 1024));
            }
        }
        out
    }

    #[test]
    fn reads_the_training_and_test_files_of_a_directory() {
        let dir = temp_dir("cifar");
        for b in 1..=5 {
            std::fs::write(
                dir.join(format!("data_batch_{b}.bin")),
                records(3, 3 * (b - 1)),
            )
            .unwrap();
        }
        std::fs::write(dir.join("test_batch.bin"), records(2, 100)).unwrap();
        let train = Cifar10::from_dir(&dir, Split::Train).unwrap();
        assert_eq!(train.len(), 15);
        assert_eq!(train.labels()[11], 1);
        let s = train.get(4).unwrap();
        assert_eq!(s.label, 4);
        let v = s.features.to_vec();
        assert_eq!(
            (v[0], v[1024], v[2048]),
            (4.0 / 255.0, 5.0 / 255.0, 6.0 / 255.0)
        );
        let test = Cifar10::from_dir(&dir, Split::Test).unwrap();
        assert_eq!(test.labels(), &[0, 1]);
        assert_eq!(test.classes()[0], "airplane");
        let batch = DataLoader::new(&train)
            .with_batch_size(4)
            .epoch(0)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.images.shape(), &[4, 3, 32, 32]);

        std::fs::write(
            dir.join("batches.meta.txt"),
            "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n",
        )
        .unwrap();
        assert_eq!(
            Cifar10::from_dir(&dir, Split::Test).unwrap().classes()[9],
            "j"
        );
        std::fs::write(dir.join("batches.meta.txt"), "a\nb\n").unwrap();
        let err = Cifar10::from_dir(&dir, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("batches.meta.txt: expected 10 class names, one a line, found 2"),
            "{err}"
        );
    }

    #[test]
    fn refuses_truncated_files_and_bad_labels() {
        let dir = temp_dir("cifar-bad");
        let mut bytes = records(2, 0);
        bytes.pop();
        std::fs::write(dir.join("test_batch.bin"), &bytes).unwrap();
        let err = Cifar10::from_dir(&dir, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "test_batch.bin: expected whole 3073-byte records (1 label byte + 3072 pixel bytes), \
                 found 6145 bytes (1 records and 3072 bytes over)"
            ),
            "{err}"
        );
        let mut bytes = records(2, 0);
        bytes[RECORD] = 42;
        assert_eq!(
            Cifar10::from_bytes(&bytes, "x.bin")
                .unwrap_err()
                .to_string(),
            "x.bin: record 1: expected a label 0 to 9, found 42 (is this CIFAR-100?)"
        );
        let data = Cifar10::from_bytes(&records(1, 0), "x").unwrap();
        assert!(data.get(1).is_err());
        assert!(data.get_into(0, &mut [0.0; 5]).is_err());
    }
}
