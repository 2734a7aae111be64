//! What the marketplace sells: 16 service categories and the service listings sellers publish.
//!
//! Category popularity is Zipf-like (design first, lifestyle last). Each category has its own price
//! level and funnel character — development and consulting draw many inquiries but close less
//! often; translation and writing are bought off the shelf — so funnel breakdowns by category show
//! real differences. Listings published during the window become visible to buyers the day after.

use rand::Rng;
use rand::rngs::StdRng;

/// One service category.
#[derive(Debug)]
pub(crate) struct Category {
    /// The slug used in URLs and in the `category` property.
    pub(crate) slug: &'static str,
    /// The category page's title.
    pub(crate) title: &'static str,
    /// Typical price of a basic package, in KRW.
    pub(crate) base_price: f64,
    /// Multiplier on the chance that a service view leads to an inquiry.
    pub(crate) inquiry: f64,
    /// Multiplier on the chance that an inquiry leads to a checkout.
    pub(crate) checkout: f64,
    /// Multiplier on the chance that a checkout is paid.
    pub(crate) purchase: f64,
    /// What people type into search for this category.
    pub(crate) terms: [&'static str; 3],
    /// Tags sellers put on listings.
    pub(crate) tags: [&'static str; 4],
}

/// Shorthand for the category table.
const fn cat(
    slug: &'static str,
    title: &'static str,
    base_price: f64,
    [inquiry, checkout, purchase]: [f64; 3],
    terms: [&'static str; 3],
    tags: [&'static str; 4],
) -> Category {
    Category {
        slug,
        title,
        base_price,
        inquiry,
        checkout,
        purchase,
        terms,
        tags,
    }
}

/// The categories, most popular first.
#[rustfmt::skip]
pub(crate) const CATEGORIES: [Category; 16] = [
    cat("design", "디자인", 120_000.0, [1.0, 1.1, 1.05], ["로고 디자인", "상세페이지", "logo design"], ["logo", "branding", "figma", "illustration"]),
    cat("development", "IT·프로그래밍", 1_200_000.0, [1.6, 0.7, 0.8], ["앱 개발", "웹사이트 제작", "python"], ["react", "flutter", "backend", "wordpress"]),
    cat("marketing", "마케팅", 300_000.0, [1.1, 0.9, 0.95], ["인스타그램 마케팅", "블로그 체험단", "SEO"], ["sns", "seo", "ads", "viral"]),
    cat("video", "영상", 250_000.0, [1.0, 1.0, 1.0], ["유튜브 편집", "모션그래픽", "shorts"], ["youtube", "editing", "motion", "shorts"]),
    cat("translation", "번역·통역", 80_000.0, [0.8, 1.25, 1.15], ["영어 번역", "일본어 번역", "translation"], ["english", "japanese", "chinese", "proofreading"]),
    cat("writing", "문서·글쓰기", 60_000.0, [0.8, 1.2, 1.1], ["자기소개서", "보도자료", "copywriting"], ["copy", "resume", "press", "blog"]),
    cat("ai", "AI 서비스", 200_000.0, [1.2, 0.9, 0.9], ["챗봇 제작", "AI 이미지", "gpt"], ["chatbot", "llm", "automation", "image-gen"]),
    cat("photography", "사진", 150_000.0, [0.9, 1.0, 1.0], ["제품 촬영", "프로필 사진", "photo"], ["product", "profile", "retouch", "studio"]),
    cat("data", "데이터", 400_000.0, [1.3, 0.8, 0.85], ["데이터 분석", "크롤링", "dashboard"], ["analysis", "crawling", "sql", "excel"]),
    cat("consulting", "비즈니스 컨설팅", 350_000.0, [1.4, 0.75, 0.85], ["사업계획서", "창업 컨설팅", "IR deck"], ["startup", "ir", "strategy", "funding"]),
    cat("audio", "음악·오디오", 100_000.0, [0.9, 1.0, 1.0], ["성우", "작곡", "mixing"], ["voice", "bgm", "mixing", "podcast"]),
    cat("legal_tax", "세무·법무", 250_000.0, [1.5, 0.85, 0.9], ["종합소득세", "상표 등록", "contract review"], ["tax", "trademark", "contract", "labor"]),
    cat("career", "취업·입시", 70_000.0, [0.9, 1.1, 1.05], ["면접 코칭", "포트폴리오 첨삭", "resume review"], ["interview", "portfolio", "coaching", "admission"]),
    cat("tutoring", "레슨", 50_000.0, [1.0, 1.15, 1.1], ["영어 회화", "코딩 과외", "guitar lesson"], ["english", "coding", "music", "online"]),
    cat("print", "인쇄·제작", 90_000.0, [0.7, 1.2, 1.1], ["명함 제작", "굿즈 제작", "sticker"], ["business-card", "goods", "sticker", "banner"]),
    cat("lifestyle", "라이프스타일", 40_000.0, [0.6, 1.1, 1.0], ["사주", "운세", "pet portrait"], ["fortune", "pet", "fitness", "diet"]),
];

/// Relative popularity of category `index` (Zipf with exponent 0.9).
pub(crate) fn popularity(index: usize) -> f64 {
    1.0 / ((index + 1) as f64).powf(0.9)
}

/// A category drawn by popularity.
pub(crate) fn sample_category(rng: &mut StdRng) -> u8 {
    let total: f64 = (0..CATEGORIES.len()).map(popularity).sum();
    let mut u = rng.random::<f64>() * total;
    for i in 0..CATEGORIES.len() {
        u -= popularity(i);
        if u < 0.0 {
            return i as u8;
        }
    }
    0
}

/// A log-normal factor with median 1 (Box–Muller).
pub(crate) fn lognormal(rng: &mut StdRng, sigma: f64) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (sigma * z).exp()
}

/// One service listing.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    /// Index into [`CATEGORIES`].
    pub(crate) category: u8,
    /// The person who sells it.
    pub(crate) seller: u32,
    /// Basic-package price in KRW.
    pub(crate) price: f64,
    /// Promised delivery time.
    pub(crate) delivery_days: u8,
    /// The day it was published (negative: before the window).
    pub(crate) publish_day: i32,
}

impl Service {
    /// A new listing in `category` by `seller`, published on `publish_day`.
    pub(crate) fn new(category: u8, seller: u32, publish_day: i32, rng: &mut StdRng) -> Service {
        let base = CATEGORIES[usize::from(category)].base_price;
        let price = ((base * lognormal(rng, 0.45)) / 1000.0).round().max(5.0) * 1000.0;
        Service {
            category,
            seller,
            price,
            delivery_days: rng.random_range(1..=7),
            publish_day,
        }
    }
}

/// Every listing, indexed by category in publication order.
#[derive(Debug)]
pub(crate) struct Catalog {
    /// All listings; a listing's index is its id.
    pub(crate) services: Vec<Service>,
    /// Per category, listing ids ordered by publish day (older, established listings first).
    by_category: Vec<Vec<u32>>,
}

impl Catalog {
    /// Indexes the listings.
    pub(crate) fn new(services: Vec<Service>) -> Catalog {
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for (id, s) in services.iter().enumerate() {
            by_category[usize::from(s.category)].push(id as u32);
        }
        for ids in &mut by_category {
            ids.sort_by_key(|&id| services[id as usize].publish_day);
        }
        Catalog {
            services,
            by_category,
        }
    }

    /// The listing with id `id`.
    pub(crate) fn service(&self, id: u32) -> &Service {
        &self.services[id as usize]
    }

    /// How many listings of `category` buyers can see on `day`.
    pub(crate) fn available(&self, category: u8, day: i32) -> usize {
        let services = &self.services;
        self.by_category[usize::from(category)]
            .partition_point(|&id| services[id as usize].publish_day < day)
    }

    /// A visible listing of `category`, the established ones far more often (a ranking's head).
    pub(crate) fn pick(&self, category: u8, day: i32, rng: &mut StdRng) -> Option<u32> {
        let n = self.available(category, day);
        if n == 0 {
            return None;
        }
        let rank = ((n as f64) * rng.random::<f64>().powf(2.5)) as usize;
        Some(self.by_category[usize::from(category)][rank.min(n - 1)])
    }
}
