//! Every user-facing string, in Simplified Chinese (the default) and English.
//!
//! Fixed strings are [`Key`]s looked up with [`tr`]; the two tables are exhaustive `match`es, so a
//! key without a translation does not compile. Strings with numbers in them are functions taking
//! the [`Lang`] (e.g. [`item_heading`]). Keys are grouped by screen with a prefix; the proctor
//! console adds its own group here.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The language of the interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The language's name in itself, for a language switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }

    /// The other language, for a two-way switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// A language code that is neither Chinese nor English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLang(pub String);

impl fmt::Display for UnknownLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown language `{}`; use zh or en", self.0)
    }
}

impl std::error::Error for UnknownLang {}

impl FromStr for Lang {
    type Err = UnknownLang;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.split(['-', '_']).next().unwrap_or_default() {
            "zh" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            _ => Err(UnknownLang(s.to_owned())),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A fixed user-facing string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    // Whole application.
    AppTitle,
    FontSmaller,
    FontLarger,
    FontSize,
    // Link to the site.
    LinkConnecting,
    LinkLostTitle,
    LinkLostBody,
    // Login.
    LoginTitle,
    LoginIntro,
    AdmissionNo,
    IdNumber,
    AdmissionNoHint,
    IdNumberHint,
    LoginButton,
    LoginBusy,
    LoginFillBoth,
    RaiseHandForHelp,
    // Waiting room.
    WaitingTitle,
    Name,
    Seat,
    Session,
    Photo,
    NoPhoto,
    PhotoUnreadable,
    FigureUnreadable,
    ChooseOption,
    CheckYourDetails,
    WaitForProctor,
    StartsIn,
    StartingSoon,
    // Exam.
    TimeLeft,
    ClockPaused,
    AllSaved,
    OfflineSaved,
    AnswerSheet,
    LegendAnswered,
    LegendUnanswered,
    LegendFlagged,
    LegendCurrent,
    KindTrueFalse,
    KindSingle,
    KindMultiple,
    KindFillIn,
    KindShortAnswer,
    AnswerArea,
    True,
    False,
    Previous,
    Next,
    Flag,
    Unflag,
    Submit,
    PaperLoading,
    // Submit confirmation.
    SubmitTitle,
    UnansweredList,
    AllAnswered,
    FlaggedList,
    SubmitWarning,
    ConfirmSubmit,
    BackToCheck,
    Submitting,
    // Done.
    DoneTitle,
    DoneByCandidate,
    DoneTimeUp,
    DoneByProctor,
    DoneLeaveQuietly,
}

impl Key {
    /// Every key, for completeness tests.
    pub const ALL: &'static [Key] = &[
        Key::AppTitle,
        Key::FontSmaller,
        Key::FontLarger,
        Key::FontSize,
        Key::LinkConnecting,
        Key::LinkLostTitle,
        Key::LinkLostBody,
        Key::LoginTitle,
        Key::LoginIntro,
        Key::AdmissionNo,
        Key::IdNumber,
        Key::AdmissionNoHint,
        Key::IdNumberHint,
        Key::LoginButton,
        Key::LoginBusy,
        Key::LoginFillBoth,
        Key::RaiseHandForHelp,
        Key::WaitingTitle,
        Key::Name,
        Key::Seat,
        Key::Session,
        Key::Photo,
        Key::NoPhoto,
        Key::PhotoUnreadable,
        Key::FigureUnreadable,
        Key::ChooseOption,
        Key::CheckYourDetails,
        Key::WaitForProctor,
        Key::StartsIn,
        Key::StartingSoon,
        Key::TimeLeft,
        Key::ClockPaused,
        Key::AllSaved,
        Key::OfflineSaved,
        Key::AnswerSheet,
        Key::LegendAnswered,
        Key::LegendUnanswered,
        Key::LegendFlagged,
        Key::LegendCurrent,
        Key::KindTrueFalse,
        Key::KindSingle,
        Key::KindMultiple,
        Key::KindFillIn,
        Key::KindShortAnswer,
        Key::AnswerArea,
        Key::True,
        Key::False,
        Key::Previous,
        Key::Next,
        Key::Flag,
        Key::Unflag,
        Key::Submit,
        Key::PaperLoading,
        Key::SubmitTitle,
        Key::UnansweredList,
        Key::AllAnswered,
        Key::FlaggedList,
        Key::SubmitWarning,
        Key::ConfirmSubmit,
        Key::BackToCheck,
        Key::Submitting,
        Key::DoneTitle,
        Key::DoneByCandidate,
        Key::DoneTimeUp,
        Key::DoneByProctor,
        Key::DoneLeaveQuietly,
    ];
}

/// Messages that come from the site or the backend are written `中文 / English`, because the
/// sender does not know the window's language: this picks the half for `lang` (or the whole
/// text when it has no ` / `).
pub fn bilingual(lang: Lang, text: &str) -> &str {
    match (text.split_once(" / "), lang) {
        (Some((zh, _)), Lang::Zh) => zh.trim(),
        (Some((_, en)), Lang::En) => en.trim(),
        (None, _) => text,
    }
}

/// The text of `key` in `lang`.
pub fn tr(lang: Lang, key: Key) -> &'static str {
    match lang {
        Lang::Zh => zh(key),
        Lang::En => en(key),
    }
}

fn zh(key: Key) -> &'static str {
    match key {
        Key::AppTitle => "考试客户端",
        Key::FontSmaller => "缩小字号",
        Key::FontLarger => "放大字号",
        Key::FontSize => "字号",
        Key::LinkConnecting => "正在连接考场服务器…",
        Key::LinkLostTitle => "网络连接中断，正在重新连接…",
        Key::LinkLostBody => "您的答案已保存在本机，请继续作答",
        Key::LoginTitle => "考生登录",
        Key::LoginIntro => "请输入您的准考证号和身份证号，然后点击“登录”。",
        Key::AdmissionNo => "准考证号",
        Key::IdNumber => "身份证号",
        Key::AdmissionNoHint => "见准考证",
        Key::IdNumberHint => "18 位，末位可能是 X",
        Key::LoginButton => "登录",
        Key::LoginBusy => "正在登录，请稍候…",
        Key::LoginFillBoth => "请填写准考证号和身份证号。",
        Key::RaiseHandForHelp => "如需帮助，请举手示意监考员。",
        Key::WaitingTitle => "请核对考生信息",
        Key::Name => "姓名",
        Key::Seat => "座位号",
        Key::Session => "考试科目",
        Key::Photo => "考生照片",
        Key::NoPhoto => "无照片",
        Key::PhotoUnreadable => "照片无法显示",
        Key::FigureUnreadable => "图片无法显示，请举手示意监考员",
        Key::ChooseOption => "请选择",
        Key::CheckYourDetails => "请核对以上信息是否为本人。如有不符，请举手示意监考员。",
        Key::WaitForProctor => "请等待监考员开考",
        Key::StartsIn => "距离开考还有",
        Key::StartingSoon => "即将开考，请稍候…",
        Key::TimeLeft => "剩余时间",
        Key::ClockPaused => "计时暂停",
        Key::AllSaved => "全部已保存",
        Key::OfflineSaved => "离线：答案已保存在本机，正在重连…",
        Key::AnswerSheet => "答题卡",
        Key::LegendAnswered => "已答",
        Key::LegendUnanswered => "未答",
        Key::LegendFlagged => "已标记",
        Key::LegendCurrent => "当前题",
        Key::KindTrueFalse => "判断题",
        Key::KindSingle => "单选题，请选择一项",
        Key::KindMultiple => "多选题，可选多项",
        Key::KindFillIn => "填空题，请在空格中填写答案",
        Key::KindShortAnswer => "简答题",
        Key::AnswerArea => "答题区",
        Key::True => "正确",
        Key::False => "错误",
        Key::Previous => "上一题",
        Key::Next => "下一题",
        Key::Flag => "标记",
        Key::Unflag => "取消标记",
        Key::Submit => "交卷",
        Key::PaperLoading => "正在接收试卷，请稍候…",
        Key::SubmitTitle => "交卷确认",
        Key::UnansweredList => "未作答的题目：",
        Key::AllAnswered => "所有题目均已作答。",
        Key::FlaggedList => "已标记的题目：",
        Key::SubmitWarning => "交卷后将不能再修改答案。确定要交卷吗？",
        Key::ConfirmSubmit => "确认交卷",
        Key::BackToCheck => "返回检查",
        Key::Submitting => "正在交卷，请稍候…",
        Key::DoneTitle => "已交卷",
        Key::DoneByCandidate => "您已交卷，答案已提交。",
        Key::DoneTimeUp => "考试时间到，系统已自动交卷。",
        Key::DoneByProctor => "监考员已为您交卷。",
        Key::DoneLeaveQuietly => "请保持安静，带好随身物品，按监考员指示离开考场。",
    }
}

fn en(key: Key) -> &'static str {
    match key {
        Key::AppTitle => "Exam Client",
        Key::FontSmaller => "Smaller text",
        Key::FontLarger => "Larger text",
        Key::FontSize => "Text size",
        Key::LinkConnecting => "Connecting to the exam site…",
        Key::LinkLostTitle => "Connection lost, reconnecting…",
        Key::LinkLostBody => "Your answers are saved on this computer. Please keep working.",
        Key::LoginTitle => "Candidate sign-in",
        Key::LoginIntro => "Enter your admission number and ID number, then press “Sign in”.",
        Key::AdmissionNo => "Admission number",
        Key::IdNumber => "ID number",
        Key::AdmissionNoHint => "on your admission ticket",
        Key::IdNumberHint => "18 characters, the last may be X",
        Key::LoginButton => "Sign in",
        Key::LoginBusy => "Signing in, please wait…",
        Key::LoginFillBoth => "Please fill in both the admission number and the ID number.",
        Key::RaiseHandForHelp => "If you need help, raise your hand.",
        Key::WaitingTitle => "Please check your details",
        Key::Name => "Name",
        Key::Seat => "Seat",
        Key::Session => "Exam",
        Key::Photo => "Candidate photo",
        Key::NoPhoto => "No photo",
        Key::PhotoUnreadable => "Photo cannot be shown",
        Key::FigureUnreadable => "The picture cannot be shown; raise your hand",
        Key::ChooseOption => "Choose",
        Key::CheckYourDetails => {
            "Check that these details are yours. If anything is wrong, raise your hand."
        }
        Key::WaitForProctor => "Please wait for the proctor to start the exam",
        Key::StartsIn => "The exam starts in",
        Key::StartingSoon => "Starting, please wait…",
        Key::TimeLeft => "Time left",
        Key::ClockPaused => "Timer paused",
        Key::AllSaved => "All answers saved",
        Key::OfflineSaved => "Offline: answers saved on this computer, reconnecting…",
        Key::AnswerSheet => "Questions",
        Key::LegendAnswered => "Answered",
        Key::LegendUnanswered => "Not answered",
        Key::LegendFlagged => "Flagged",
        Key::LegendCurrent => "Current",
        Key::KindTrueFalse => "True or false",
        Key::KindSingle => "Single choice: pick one",
        Key::KindMultiple => "Multiple choice: pick all that apply",
        Key::KindFillIn => "Fill in the blanks",
        Key::KindShortAnswer => "Short answer",
        Key::AnswerArea => "Your answer",
        Key::True => "True",
        Key::False => "False",
        Key::Previous => "Previous",
        Key::Next => "Next",
        Key::Flag => "Flag",
        Key::Unflag => "Unflag",
        Key::Submit => "Submit",
        Key::PaperLoading => "Receiving the paper, please wait…",
        Key::SubmitTitle => "Submit the paper?",
        Key::UnansweredList => "Questions not answered:",
        Key::AllAnswered => "Every question has an answer.",
        Key::FlaggedList => "Flagged questions:",
        Key::SubmitWarning => "You cannot change your answers after submitting. Submit now?",
        Key::ConfirmSubmit => "Yes, submit",
        Key::BackToCheck => "Go back and check",
        Key::Submitting => "Submitting, please wait…",
        Key::DoneTitle => "Paper submitted",
        Key::DoneByCandidate => "You have submitted your paper.",
        Key::DoneTimeUp => "Time is up; your paper was submitted automatically.",
        Key::DoneByProctor => "A proctor submitted your paper.",
        Key::DoneLeaveQuietly => {
            "Please stay quiet, take your belongings and leave when the proctor tells you."
        }
    }
}

/// "第 3 题（2 分）" / "Question 3 (2 points)".
pub fn item_heading(lang: Lang, number: usize, points: u32) -> String {
    match lang {
        Lang::Zh => format!("第 {number} 题（{points} 分）"),
        Lang::En if points == 1 => format!("Question {number} (1 point)"),
        Lang::En => format!("Question {number} ({points} points)"),
    }
}

/// The accessible name of a question's button in the answer sheet: "第 3 题" / "Question 3".
pub fn item_label(lang: Lang, number: usize) -> String {
    match lang {
        Lang::Zh => format!("第 {number} 题"),
        Lang::En => format!("Question {number}"),
    }
}

/// A choice option's label by display position: A, B, … Z, then AA, AB, …
pub fn option_letter(position: usize) -> String {
    const LETTERS: &[u8; 26] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = position;
    let mut out = Vec::new();
    loop {
        out.push(LETTERS[n % 26]);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// "空 2" / "Blank 2".
/// Accessible name of the `number`-th picture of a question.
pub fn figure_label(lang: Lang, number: usize) -> String {
    match lang {
        Lang::Zh => format!("图 {number}"),
        Lang::En => format!("Figure {number}"),
    }
}

pub fn blank_label(lang: Lang, number: usize) -> String {
    match lang {
        Lang::Zh => format!("空 {number}"),
        Lang::En => format!("Blank {number}"),
    }
}

/// "正在保存（3）…" / "Saving (3)…".
pub fn saving(lang: Lang, pending: usize) -> String {
    match lang {
        Lang::Zh => format!("正在保存（{pending}）…"),
        Lang::En => format!("Saving ({pending})…"),
    }
}

/// "已输入 120 / 5000 字" / "120 / 5000 characters".
pub fn char_count(lang: Lang, count: usize, max: usize) -> String {
    match lang {
        Lang::Zh => format!("已输入 {count} / {max} 字"),
        Lang::En => format!("{count} / {max} characters"),
    }
}

/// "已答 3 / 5 题" / "3 of 5 answered".
pub fn answered_progress(lang: Lang, answered: usize, total: usize) -> String {
    match lang {
        Lang::Zh => format!("已答 {answered} / {total} 题"),
        Lang::En => format!("{answered} of {total} answered"),
    }
}

/// "第 3、5、8 题" / "3, 5, 8": a list of question numbers.
/// Runs of consecutive numbers are shown as ranges (`5–9`), and the count is given, so a long
/// list stays readable: "第 1、3、5–70 题（共 68 题）".
pub fn number_list(lang: Lang, numbers: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => numbers[i].to_string(),
            1 => format!(
                "{}{}{}",
                numbers[i],
                if lang == Lang::Zh { "、" } else { ", " },
                numbers[j]
            ),
            _ => format!("{}–{}", numbers[i], numbers[j]),
        });
        i = j + 1;
    }
    let n = numbers.len();
    match lang {
        Lang::Zh => format!("第 {} 题（共 {n} 题）", parts.join("、")),
        Lang::En => format!("{} ({n} in all)", parts.join(", ")),
    }
}

/// "重试第 3 次" / "attempt 3".
pub fn reconnect_tries(lang: Lang, tries: u32) -> String {
    match lang {
        Lang::Zh => format!("（第 {tries} 次重试）"),
        Lang::En => format!("(attempt {tries})"),
    }
}

/// A duration as a clock: `1:05:09` with hours, `05:09` without.
pub fn clock(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_text_in_every_language() {
        for lang in Lang::ALL {
            for key in Key::ALL {
                assert!(!tr(lang, *key).trim().is_empty(), "{key:?} in {lang}");
            }
        }
        assert_eq!(tr(Lang::Zh, Key::LoginButton), "登录");
        assert_eq!(tr(Lang::default(), Key::Submit), "交卷");
    }

    #[test]
    fn formatted_strings() {
        assert_eq!(item_heading(Lang::Zh, 3, 2), "第 3 题（2 分）");
        assert_eq!(item_heading(Lang::En, 1, 1), "Question 1 (1 point)");
        assert_eq!(option_letter(0), "A");
        assert_eq!(option_letter(3), "D");
        assert_eq!(option_letter(25), "Z");
        assert_eq!(option_letter(26), "AA");
        assert_eq!(number_list(Lang::Zh, &[3, 5]), "第 3、5 题（共 2 题）");
        assert_eq!(clock(Duration::from_secs(65)), "01:05");
        assert_eq!(clock(Duration::from_secs(3600 + 65)), "1:01:05");
        assert_eq!(saving(Lang::Zh, 2), "正在保存（2）…");
    }

    #[test]
    fn lang_parses_codes() {
        assert_eq!("zh-CN".parse(), Ok(Lang::Zh));
        assert_eq!("EN".parse(), Ok(Lang::En));
        assert_eq!("en_US".parse(), Ok(Lang::En));
        assert!("fr".parse::<Lang>().is_err());
    }
}

#[cfg(test)]
mod bilingual_tests {
    use super::*;

    #[test]
    fn number_lists_compress_runs() {
        assert_eq!(
            number_list(Lang::Zh, &[1, 3, 4, 5, 6, 9, 10]),
            "第 1、3–6、9、10 题（共 7 题）"
        );
        assert_eq!(number_list(Lang::En, &[2]), "2 (1 in all)");
    }

    #[test]
    fn picks_the_half_for_the_language() {
        let t = "已交卷 / the paper has been handed in";
        assert_eq!(bilingual(Lang::Zh, t), "已交卷");
        assert_eq!(bilingual(Lang::En, t), "the paper has been handed in");
        assert_eq!(bilingual(Lang::En, "只有中文"), "只有中文");
    }
}
